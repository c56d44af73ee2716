from django.apps import AppConfig


class GatewaySimConfig(AppConfig):
    """The local WeChat Pay / Alipay simulator: a management command and a test fixture, no models."""

    name = "gatewaysim"
    verbose_name = "Gateway simulator"
