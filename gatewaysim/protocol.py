"""The gateways' wire formats, written from their published rules and independent of the SDKs.

The simulator checks what the SDKs send with this code, so an SDK bug cannot hide behind an
identical bug on the other side: WeChat Pay v2 signatures (MD5 and HMAC-SHA256), its XML, the
AES-256-ECB refund notification; Alipay's RSA2 (SHA256withRSA) request, response and
notification signatures.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from xml.sax.saxutils import escape

import xmltodict
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# --- WeChat Pay API v2 -------------------------------------------------------------------------

WECHAT_MD5 = "MD5"
WECHAT_HMAC_SHA256 = "HMAC-SHA256"


def wechat_sign_string(params: Mapping[str, object], api_key: str) -> bytes:
    """``k=v`` pairs sorted by key, empty values and ``sign`` left out, then ``&key=<api key>``."""
    pairs = [f"{key}={params[key]}" for key in sorted(params) if key != "sign" and params[key] not in (None, "")]
    pairs.append(f"key={api_key}")
    return "&".join(pairs).encode("utf-8")


def wechat_sign(params: Mapping[str, object], api_key: str, sign_type: str = WECHAT_MD5) -> str:
    """WeChat's signature of ``params``: upper-case hex MD5, or HMAC-SHA256 keyed with the API key."""
    message = wechat_sign_string(params, api_key)
    if sign_type == WECHAT_HMAC_SHA256:
        return hmac.new(api_key.encode("utf-8"), message, hashlib.sha256).hexdigest().upper()
    if sign_type == WECHAT_MD5:
        return hashlib.md5(message).hexdigest().upper()  # noqa: S324 - WeChat Pay v2 mandates MD5
    raise ValueError(f"unknown WeChat sign_type {sign_type!r}")


def wechat_signature_valid(params: Mapping[str, object], api_key: str) -> bool:
    """Whether ``params['sign']`` is right for the rest, by the ``sign_type`` they name (MD5 by default)."""
    sign = str(params.get("sign") or "")
    sign_type = str(params.get("sign_type") or WECHAT_MD5)
    if not sign or sign_type not in (WECHAT_MD5, WECHAT_HMAC_SHA256):
        return False
    return hmac.compare_digest(sign, wechat_sign(params, api_key, sign_type))


def wechat_xml(params: Mapping[str, object], *, root: str = "xml") -> str:
    """``<xml><key><![CDATA[value]]></key>...</xml>``, keys sorted; numbers bare, like WeChat."""
    parts = [f"<{root}>"]
    for key in sorted(params):
        value = params[key]
        if value is None:
            continue
        text = str(value)
        if text.isdigit():
            parts.append(f"<{key}>{text}</{key}>")
        elif "]]>" in text:
            parts.append(f"<{key}>{escape(text)}</{key}>")
        else:
            parts.append(f"<{key}><![CDATA[{text}]]></{key}>")
    parts.append(f"</{root}>")
    return "".join(parts)


def parse_wechat_xml(body: bytes | str) -> dict[str, str]:
    """The flat ``<xml>`` document as a dict of strings. Raises ``ValueError`` when it is not one."""
    try:
        document = xmltodict.parse(body, disable_entities=True)
    except Exception as exc:  # expat raises its own error types
        raise ValueError(f"not XML: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("xml"), dict):
        raise ValueError("no <xml> root element")
    return {str(key): "" if value is None else str(value) for key, value in document["xml"].items()}


def wechat_refund_key(api_key: str) -> bytes:
    """The AES-256 key of refund notifications: the lower-case hex MD5 of the API key (32 bytes)."""
    return hashlib.md5(api_key.encode("utf-8")).hexdigest().encode("ascii")  # noqa: S324 - WeChat's rule


def wechat_encrypt_req_info(plaintext: str, api_key: str) -> str:
    """Base64 of AES-256-ECB over the UTF-8 text with PKCS#7 padding to 16 bytes."""
    padder = padding.PKCS7(128).padder()
    data = padder.update(plaintext.encode("utf-8")) + padder.finalize()
    # ECB is what WeChat Pay v2 specifies for req_info; there is no IV to choose.
    encryptor = Cipher(algorithms.AES(wechat_refund_key(api_key)), modes.ECB()).encryptor()  # noqa: S305
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode("ascii")


def wechat_decrypt_req_info(req_info: str, api_key: str) -> str:
    """The inverse of ``wechat_encrypt_req_info`` (for tests); ``ValueError`` on bad padding or base64."""
    try:
        data = base64.b64decode(req_info, validate=True)
    except binascii.Error as exc:
        raise ValueError("req_info is not base64") from exc
    decryptor = Cipher(algorithms.AES(wechat_refund_key(api_key)), modes.ECB()).decryptor()  # noqa: S305
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")


# --- Alipay ------------------------------------------------------------------------------------


def alipay_sign_string(params: Mapping[str, str], *, exclude: tuple[str, ...]) -> str:
    """``k=v`` pairs sorted by key with raw (not URL-encoded) values, ``exclude`` and empty values left out."""
    return "&".join(f"{key}={params[key]}" for key in sorted(params) if key not in exclude and params[key] != "")


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def rsa2_sign(message: str, private_key: rsa.RSAPrivateKey) -> str:
    """Alipay RSA2: SHA256withRSA (PKCS#1 v1.5) over the UTF-8 text, base64."""
    signature = private_key.sign(message.encode("utf-8"), PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def rsa2_verify(message: str, signature: str, public_key: rsa.RSAPublicKey) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, message.encode("utf-8"), PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


def alipay_request_signature_valid(params: Mapping[str, str], public_key: rsa.RSAPublicKey) -> bool:
    """OpenAPI requests are signed over every parameter except ``sign`` (``sign_type`` included)."""
    if params.get("sign_type") != "RSA2" or not params.get("sign"):
        return False
    return rsa2_verify(alipay_sign_string(params, exclude=("sign",)), params["sign"], public_key)


def alipay_sign_notification(params: Mapping[str, str], private_key: rsa.RSAPrivateKey) -> str:
    """Asynchronous notifications are signed without ``sign`` and ``sign_type``."""
    return rsa2_sign(alipay_sign_string(params, exclude=("sign", "sign_type")), private_key)
