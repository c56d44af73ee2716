"""The simulator's key material: a test CA, the HTTPS server certificate, WeChat Pay's merchant
client certificate and API key, and Alipay's two RSA-2048 key pairs.

Generated with ``cryptography`` into one directory, only when something is missing, so a
development simulator keeps its keys (and the app's settings stay valid) across restarts.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Fixed identities: the development settings (schoolops/settings.py) name the same values.
WECHAT_APPID = "wx6c0e3d5f8a1b2c47"
WECHAT_MCH_ID = "1900012345"
ALIPAY_APPID = "2021000100000001"
ALIPAY_SELLER_ID = "2088000000000001"
# The merchant the cashier page names (the school).
MERCHANT_NAME = "明德网校"
# The notification side (SMS provider, WeChat official account messages, staff robots).
SMS_ACCESS_KEY_ID = "LTAI5tSimulator0000000001"
SMS_SIGN_NAME = "明德网校"
WECHAT_MP_APPID = WECHAT_APPID  # the official account that also owns the merchant number
NOTIFY_KEYS_FILE = "notify-keys.json"

_VALIDITY = datetime.timedelta(days=3650)


@dataclass(frozen=True)
class SimMaterial:
    """Where each generated file is, and the WeChat API key itself."""

    directory: Path
    wechat_api_key: str
    # Secrets of the notification endpoints (kept in notify-keys.json, made when it is missing).
    wechat_mp_secret: str = ""
    sms_access_key_secret: str = ""
    dingtalk_secret: str = ""

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca-key.pem"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.directory / "server-key.pem"

    @property
    def wechat_client_cert(self) -> Path:
        return self.directory / "wechat-apiclient_cert.pem"

    @property
    def wechat_client_key(self) -> Path:
        return self.directory / "wechat-apiclient_key.pem"

    @property
    def wechat_api_key_file(self) -> Path:
        return self.directory / "wechat_api_key.txt"

    @property
    def notify_keys_file(self) -> Path:
        return self.directory / NOTIFY_KEYS_FILE

    @property
    def alipay_app_private_key(self) -> Path:
        return self.directory / "alipay-app-private.pem"

    @property
    def alipay_app_public_key(self) -> Path:
        return self.directory / "alipay-app-public.pem"

    @property
    def alipay_platform_private_key(self) -> Path:
        return self.directory / "alipay-platform-private.pem"

    @property
    def alipay_platform_public_key(self) -> Path:
        return self.directory / "alipay-platform-public.pem"

    def all_files(self) -> list[Path]:
        return [
            self.ca_cert,
            self.ca_key,
            self.server_cert,
            self.server_key,
            self.wechat_client_cert,
            self.wechat_client_key,
            self.wechat_api_key_file,
            self.alipay_app_private_key,
            self.alipay_app_public_key,
            self.alipay_platform_private_key,
            self.alipay_platform_public_key,
        ]


def ensure_material(directory: Path | str) -> SimMaterial:
    """Return the key material in ``directory``, generating a complete new set if any file is missing."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    probe = SimMaterial(directory=directory, wechat_api_key="")
    if not all(path.exists() for path in probe.all_files()):
        _generate(probe)
    # Generated on its own, so a simulator directory made before it existed keeps its other keys.
    if not probe.notify_keys_file.exists():
        _generate_notify_keys(probe)
    notify = json.loads(probe.notify_keys_file.read_text())
    return SimMaterial(
        directory=directory,
        wechat_api_key=probe.wechat_api_key_file.read_text().strip(),
        wechat_mp_secret=notify["wechat_mp_secret"],
        sms_access_key_secret=notify["sms_access_key_secret"],
        dingtalk_secret=notify["dingtalk_secret"],
    )


def write_settings_files(material: SimMaterial, *, base_url: str) -> tuple[Path, Path]:
    """Write ``settings.json`` and ``settings.env``: the values that point the app at this simulator."""
    values = settings_values(material, base_url=base_url)
    json_path = material.directory / "settings.json"
    _write_secret(json_path, json.dumps(values, indent=2, ensure_ascii=False) + "\n")  # holds the API key
    env_path = material.directory / "settings.env"
    lines = [f"WECHAT_PAY_{key}={value}" for key, value in values["WECHAT_PAY"].items()]
    lines += [f"ALIPAY_{key}={value}" for key, value in values["ALIPAY"].items()]
    lines += [f"SMS_{key}={value}" for key, value in values["SMS"].items()]
    lines += [f"WECHAT_MP_{key}={value}" for key, value in values["WECHAT_MP"].items()]
    _write_secret(env_path, "\n".join(lines) + "\n")
    return json_path, env_path


def settings_values(material: SimMaterial, *, base_url: str) -> dict[str, dict[str, str]]:
    """``settings.WECHAT_PAY``, ``ALIPAY``, ``SMS`` and ``WECHAT_MP`` as they must read to use the
    simulator at ``base_url``."""
    base_url = base_url.rstrip("/") + "/"
    return {
        "WECHAT_PAY": {
            "APPID": WECHAT_APPID,
            "MCH_ID": WECHAT_MCH_ID,
            "API_KEY": material.wechat_api_key,
            "CERT_PATH": str(material.wechat_client_cert),
            "KEY_PATH": str(material.wechat_client_key),
            "API_BASE": base_url,
            "CA_BUNDLE": str(material.ca_cert),
        },
        "ALIPAY": {
            "APPID": ALIPAY_APPID,
            "APP_PRIVATE_KEY_PATH": str(material.alipay_app_private_key),
            "PUBLIC_KEY_PATH": str(material.alipay_platform_public_key),
            "GATEWAY": base_url + "gateway.do",
            "CA_BUNDLE": str(material.ca_cert),
        },
        "SMS": {
            "URL": base_url + "sms/",
            "ACCESS_KEY_ID": SMS_ACCESS_KEY_ID,
            "ACCESS_KEY_SECRET": material.sms_access_key_secret,
            "SIGN_NAME": SMS_SIGN_NAME,
            "CA_BUNDLE": str(material.ca_cert),
        },
        "WECHAT_MP": {
            "APPID": WECHAT_MP_APPID,
            "SECRET": material.wechat_mp_secret,
            "API_BASE": base_url,
            "TOKEN_URL": base_url + "cgi-bin/token",
            "CA_BUNDLE": str(material.ca_cert),
        },
    }


def _generate_notify_keys(material: SimMaterial) -> None:
    alphabet = string.ascii_letters + string.digits
    values = {
        "wechat_mp_secret": secrets.token_hex(16),  # an AppSecret is 32 hex digits
        "sms_access_key_secret": "".join(secrets.choice(alphabet) for _ in range(30)),
        "dingtalk_secret": "SEC" + secrets.token_hex(32),  # DingTalk's 加签 secrets start with SEC
    }
    _write_secret(material.notify_keys_file, json.dumps(values, indent=2) + "\n")


def _generate(material: SimMaterial) -> None:
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    ca_key = _rsa_key()
    ca_name = _name("schoolops gateway simulator test CA")
    ca_cert = (
        _builder(subject=ca_name, issuer=ca_name, public_key=ca_key.public_key(), now=now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = _rsa_key()
    server_cert = (
        _leaf_builder(ca_cert, ca_key, server_key, common_name="127.0.0.1", now=now)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    client_key = _rsa_key()
    client_cert = (
        _leaf_builder(ca_cert, ca_key, client_key, common_name=WECHAT_MCH_ID, now=now)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    alphabet = string.ascii_letters + string.digits
    api_key = "".join(secrets.choice(alphabet) for _ in range(32))

    app_key = _rsa_key()
    platform_key = _rsa_key()

    _write_cert(material.ca_cert, ca_cert)
    _write_private_key(material.ca_key, ca_key)
    _write_cert(material.server_cert, server_cert)
    _write_private_key(material.server_key, server_key)
    _write_cert(material.wechat_client_cert, client_cert)
    _write_private_key(material.wechat_client_key, client_key)
    _write_secret(material.wechat_api_key_file, api_key + "\n")
    _write_private_key(material.alipay_app_private_key, app_key)
    _write_public_key(material.alipay_app_public_key, app_key)
    _write_private_key(material.alipay_platform_private_key, platform_key)
    _write_public_key(material.alipay_platform_public_key, platform_key)


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "schoolops gateway simulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not cert_sign,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(
    *, subject: x509.Name, issuer: x509.Name, public_key: rsa.RSAPublicKey, now: datetime.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _VALIDITY)
    )


def _leaf_builder(
    ca_cert: x509.Certificate,
    ca_key: rsa.RSAPrivateKey,
    key: rsa.RSAPrivateKey,
    *,
    common_name: str,
    now: datetime.datetime,
) -> x509.CertificateBuilder:
    return (
        _builder(subject=_name(common_name), issuer=ca_cert.subject, public_key=key.public_key(), now=now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_private_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    # PKCS#1 ("BEGIN RSA PRIVATE KEY"): what Alipay's key tool and WeChat's apiclient_key.pem look like.
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    _write_secret(path, pem.decode())


def _write_public_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    path.write_bytes(pem)


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
