"""Notification channels, one module each; ``base`` holds the contract and the registry."""

import importlib

# Each module registers its channel class when imported.
CHANNEL_MODULES = ("inbox", "email", "sms", "wechat", "webhook", "call_task")


def load_all() -> None:
    for module in CHANNEL_MODULES:
        try:
            importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{module}":
                raise
