"""Throwaway secret material for the red-team suite, and the scanners that prove none of it leaked.

Every value is made at test time (nothing secret is committed). `FakeSecrets.needles()` lists the
exact strings that must never appear anywhere the bot writes or prints: the Kalshi key id (as a
UUID and as bare hex), every base64 line of the private key file and its private exponent, and
every Polymarket credential. `find_leaks` also flags anything *shaped* like a secret (a PEM
private-key header, a long random-looking base64 run such as an RSA signature, 0x + 64 hex),
so a leak of material the test did not know about (a fresh request signature) is caught too.
Findings name the kind and position only, never the secret, so a failing assertion does not
print the secret either.
"""

from __future__ import annotations

import base64
import math
import os
import re
import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PEM_PRIVATE_HEADER = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
HEX_KEY = re.compile(r"(?<![0-9a-fA-F])0x[0-9a-fA-F]{64}(?![0-9a-fA-F])")
BASE64_RUN = re.compile(r"(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_-]{40,}={0,2}")
KEY_ID_ASSIGNMENT = re.compile(
    r"KALSHI_API_KEY_ID\s*[=:]\s*[\"']?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_PATH_SEGMENT = re.compile(r"^[a-z0-9_.-]{3,}$")


def entropy_bits(text: str) -> float:
    """Shannon entropy per character: random base64 scores about 4.3-5.3, words and paths less."""
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def looks_like_secret_blob(text: str) -> bool:
    """A long base64 run that reads as random (mixed case, digits, high entropy) and not as a path."""
    if re.fullmatch(r"0x[0-9a-fA-F]{40}", text):
        return False  # an Ethereum address: public by nature
    if not (any(c.isdigit() for c in text) and any(c.isupper() for c in text) and any(c.islower() for c in text)):
        return False
    segments = [s for s in text.split("/") if s]
    # A file or URL path is mostly lower-case words between slashes. Random base64 holds a "/" every
    # 64 characters or so and, now and then, a short lower-case run between two of them: requiring
    # half the segments to be words keeps such a signature from passing as a path.
    words = sum(1 for s in segments if _PATH_SEGMENT.match(s))
    if len(segments) >= 3 and words >= max(2, (len(segments) + 1) // 2):
        return False
    return entropy_bits(text) >= 4.0


def shaped_secrets(text: str) -> list[str]:
    """Kinds and offsets of secret-shaped text (no values)."""
    found = [f"PEM private key header at {m.start()}" for m in PEM_PRIVATE_HEADER.finditer(text)]
    found += [f"0x+64-hex key at {m.start()}" for m in HEX_KEY.finditer(text)]
    found += [
        f"random-looking base64 run of {len(m.group(0))} chars at {m.start()}"
        for m in BASE64_RUN.finditer(text)
        if looks_like_secret_blob(m.group(0))
    ]
    return found


def find_leaks(text: str, needles: Iterable[str], *, shapes: bool = True) -> list[str]:
    """Every known secret (by index) and, with `shapes`, every secret-shaped run found in `text`."""
    found = [f"secret #{i} ({len(n)} chars) at {text.find(n)}" for i, n in enumerate(needles) if n and n in text]
    if shapes:
        found += shaped_secrets(text)
    return found


def scan_tree(root: Path, needles: Iterable[str], *, exclude: Iterable[Path] = ()) -> dict[str, list[str]]:
    """Leaks in every regular file under `root` (binary files too, read as latin-1)."""
    skip = {p.resolve() for p in exclude}
    needles = list(needles)
    report: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink() or path.resolve() in skip:
            continue
        text = path.read_bytes().decode("latin-1")
        # SQLite files hold arbitrary binary pages: only exact secrets are meaningful there.
        binary = "\x00" in text
        leaks = find_leaks(text, needles, shapes=not binary)
        if leaks:
            report[str(path.relative_to(root))] = leaks
    return report


def scan_database(path: Path, needles: Iterable[str]) -> dict[str, list[str]]:
    """Leaks in every value of every column of every table (TEXT and BLOB alike)."""
    needles = list(needles)
    report: dict[str, list[str]] = {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cur = conn.execute(f'SELECT * FROM "{table}"')
            columns = [d[0] for d in cur.description]
            for row_no, row in enumerate(cur):
                for column, value in zip(columns, row, strict=True):
                    if isinstance(value, bytes):
                        value = value.decode("latin-1")
                    if not isinstance(value, str):
                        continue
                    leaks = find_leaks(value, needles)
                    if leaks:
                        report[f"{table}.{column}[{row_no}]"] = leaks
    finally:
        conn.close()
    return report


def database_text_values(path: Path) -> int:
    """How many TEXT values the database holds (so a scan of an empty database cannot pass vacuously)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        total = 0
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                total += sum(1 for v in row if isinstance(v, str))
        return total
    finally:
        conn.close()


@dataclass(frozen=True)
class FakeSecrets:
    """One set of fake credentials: a Kalshi key (file + UUID id) and Polymarket L1/L2 secrets."""

    key_id: str
    key_path: Path
    private_key: rsa.RSAPrivateKey
    poly_private_key: str
    poly_api_key: str
    poly_api_secret: str
    poly_passphrase: str

    def env(self, *, live_trading: bool = False) -> dict[str, str]:
        return {
            "KALSHI_API_KEY_ID": self.key_id,
            "KALSHI_PRIVATE_KEY_PATH": str(self.key_path),
            "LIVE_TRADING": "true" if live_trading else "false",
            "POLY_PRIVATE_KEY": self.poly_private_key,
            "POLY_API_KEY": self.poly_api_key,
            "POLY_API_SECRET": self.poly_api_secret,
            "POLY_API_PASSPHRASE": self.poly_passphrase,
        }

    def env_text(self, *, live_trading: bool = False, omit: Iterable[str] = ()) -> str:
        skip = set(omit)
        return "".join(f"{k}={v}\n" for k, v in self.env(live_trading=live_trading).items() if k not in skip)

    def needles(self) -> list[str]:
        pem_lines = [
            line
            for encoding in (serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8)
            for line in self.private_key.private_bytes(
                serialization.Encoding.PEM, encoding, serialization.NoEncryption()
            ).decode().splitlines()
            if not line.startswith("-----")
        ]
        d = self.private_key.private_numbers().d
        return [
            self.key_id,
            self.key_id.replace("-", ""),
            *pem_lines,
            str(d)[:64],
            format(d, "x")[:64],
            self.poly_private_key,
            self.poly_private_key.removeprefix("0x"),
            self.poly_api_key,
            self.poly_api_secret,
            self.poly_passphrase,
        ]


def write_key_file(path: Path, private_key: rsa.RSAPrivateKey, mode: int = 0o600) -> Path:
    path.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    path.chmod(mode)
    return path


def make_fake_secrets(directory: Path, private_key: rsa.RSAPrivateKey) -> FakeSecrets:
    """Fresh values for every test: registered-secret redaction from one test cannot hide a leak in another."""
    directory.mkdir(parents=True, exist_ok=True)
    key_path = write_key_file(directory / "kalshi-demo.pem", private_key)
    return FakeSecrets(
        key_id=str(uuid.uuid4()),
        key_path=key_path,
        private_key=private_key,
        poly_private_key="0x" + os.urandom(32).hex(),
        poly_api_key=str(uuid.uuid4()),
        poly_api_secret=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        poly_passphrase=os.urandom(32).hex(),
    )


__all__ = [
    "BASE64_RUN",
    "FakeSecrets",
    "HEX_KEY",
    "KEY_ID_ASSIGNMENT",
    "PEM_PRIVATE_HEADER",
    "database_text_values",
    "entropy_bits",
    "find_leaks",
    "looks_like_secret_blob",
    "make_fake_secrets",
    "scan_database",
    "scan_tree",
    "shaped_secrets",
    "write_key_file",
]
