"""Hold the Polymarket wallet key and sign EIP-712 typed data with it, never exposing the key."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount


class PolyAuthError(Exception):
    """Polymarket credentials are missing or malformed; the message never contains key material."""


class PolyWallet:
    """An Ethereum account used for Polymarket L1 auth and order signing.

    The key lives only inside the eth-account object; repr/str show the public address alone,
    and the object refuses to be pickled or copied, so it cannot leak into a log or a database
    by accident (ground rule 4).
    """

    __slots__ = ("_account",)

    def __init__(self, account: LocalAccount) -> None:
        if not isinstance(account, LocalAccount):
            raise PolyAuthError("PolyWallet needs an eth-account LocalAccount")
        self._account = account

    @classmethod
    def from_private_key(cls, private_key: str) -> PolyWallet:
        """Load a hex private key (with or without 0x); a bad key gives a message without the key."""
        if not isinstance(private_key, str) or not private_key.strip():
            raise PolyAuthError("POLY_PRIVATE_KEY is empty")
        try:
            account = Account.from_key(private_key.strip())
        except Exception:  # eth-keys raises several types; none may echo the input
            raise PolyAuthError("POLY_PRIVATE_KEY is not a valid 32-byte hex private key") from None
        return cls(account)

    @property
    def address(self) -> str:
        """EIP-55 checksummed address of the signing key."""
        return str(self._account.address)

    def sign_typed_data(self, typed_data: dict[str, Any]) -> str:
        """EIP-712 signature over a full typed-data message, as 0x-prefixed 65-byte hex."""
        try:
            signable = encode_typed_data(full_message=typed_data)
        except Exception as exc:  # malformed struct from our own builders: say which, not the data
            raise PolyAuthError(f"cannot encode EIP-712 message: {type(exc).__name__}") from None
        signed = self._account.sign_message(signable)
        return "0x" + bytes(signed.signature).hex()

    def __repr__(self) -> str:
        return f"PolyWallet(address={self.address})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("PolyWallet holds a private key and cannot be pickled")

    def __copy__(self) -> PolyWallet:
        raise TypeError("PolyWallet holds a private key and cannot be copied")

    def __deepcopy__(self, memo: dict[int, Any]) -> PolyWallet:
        raise TypeError("PolyWallet holds a private key and cannot be copied")
