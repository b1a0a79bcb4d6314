"""What the person at a registry client does about a refusal, said in the words of their client: the
packages service raises errors with their data and no client's words; each registry face names its
hints per error class (`packages.explain` looks them up along the class hierarchy)."""
from __future__ import annotations

from appliance.packages import TokenInUpload


def leave_the_token_out(error: TokenInUpload, keep_out: str) -> str:
    """The hint for a token found in an upload: leave the file out (`keep_out` says how with this client)
    and revoke the token, which is known now."""
    revoke = (f"revoke it (`appliance tokens revoke {error.token_id}`, or /settings/tokens)"
              if error.token_id is not None else "revoke it where it was made")
    return f"leave the file out of the package ({keep_out}) and {revoke}"
