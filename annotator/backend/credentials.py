"""The secret Label Studio and `serve` share: generated once, kept in a mode-600 file, never printed.

Label Studio sends it as basic-auth password to the ML backend and in the
`X-Annotator-Token` header of webhooks. It lives in `config_dir()/serve.json`
(ANNOTATOR_HOME/config when that is set); delete the file and run
`annotator connect` again to change it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..settings import config_dir, write_secret_file

USER = "annotator"
"""The basic-auth user name Label Studio is given."""


@dataclass(frozen=True)
class Credentials:
    """The basic-auth user and the shared secret (hidden from repr)."""

    user: str
    secret: str = field(repr=False)


def credentials_file() -> Path:
    """Where the secret is kept."""
    return config_dir() / "serve.json"


def load_credentials(create: bool = True) -> Credentials:
    """The stored credentials, generated and written (mode 600) on first use."""
    path = credentials_file()
    try:
        stored = json.loads(path.read_text())
        if isinstance(stored, dict) and stored.get("secret") and stored.get("user"):
            return Credentials(str(stored["user"]), str(stored["secret"]))
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the serve credentials in {path} ({type(exc).__name__}); delete the file "
                         "and run `annotator connect` again to make new ones") from exc
    if not create:
        raise InputError(f"no serve credentials in {path}; run `annotator serve --register` or `annotator connect`")
    made = Credentials(USER, secrets.token_urlsafe(32))
    write_secret_file(path, json.dumps({"user": made.user, "secret": made.secret}) + "\n")
    return made
