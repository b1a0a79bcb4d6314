"""Two PATCHes at the same offset of one upload, at the same time: one wins, the other gets 416 and
appends nothing (decided in the database, so across workers and nodes as well as threads)."""
from __future__ import annotations

import io
import threading

from appliance import create_app
from tests.support.oci import digest_of, random_bytes
from tests.unit.formats.docker.conftest import error_code


class SlowBody(io.BytesIO):
    """A request body that sends its first half, then waits until told to send the rest."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.half = len(data) // 2
        self.sent_first_half = threading.Event()
        self.go_on = threading.Event()

    def read(self, size: int | None = -1) -> bytes:
        if self.tell() >= self.half:
            self.sent_first_half.set()
            assert self.go_on.wait(30)
            return super().read(size)
        wanted = self.half - self.tell()
        return super().read(wanted if size is None or size < 0 else min(size, wanted))

    def readinto(self, buffer) -> int:
        chunk = self.read(len(buffer))
        buffer[:len(chunk)] = chunk
        return len(chunk)


def test_two_patches_at_the_same_offset_one_wins_and_the_other_gets_416(registry, bootstrap):
    location = registry.request("POST", f"/v2/{registry.image}/blobs/uploads/").headers["Location"]
    first, second = random_bytes(4000), random_bytes(4000)
    body = SlowBody(first)
    answers = {}

    def send_first():
        answers["first"] = registry.request("PATCH", location, input_stream=body,
                                            headers={"Content-Range": "0-3999", "Content-Length": "4000"})

    thread = threading.Thread(target=send_first)
    thread.start()
    assert body.sent_first_half.wait(30)
    # Another worker of the appliance (an app of its own) takes the second PATCH meanwhile.
    other = registry.__class__(create_app(bootstrap).test_client(), registry.token, registry.storage_root)
    refused = other.request("PATCH", location, data=second, headers={"Content-Range": "0-3999"})
    body.go_on.set()
    thread.join(30)
    assert refused.status_code == 416 and error_code(refused) == "BLOB_UPLOAD_INVALID"
    assert "another request" in refused.get_json()["errors"][0]["message"]
    assert answers["first"].status_code == 202 and answers["first"].headers["Range"] == "0-3999"
    # Sent again now, the loser's offset is not where the upload stands: 416 again, nothing appended.
    again = other.request("PATCH", location, data=second, headers={"Content-Range": "0-3999"})
    assert again.status_code == 416
    assert registry.request("GET", location).headers["Range"] == "0-3999"
    assert registry.request("PUT", f"{location}?digest={digest_of(first)}").status_code == 201
    assert registry.request("GET", f"/v2/{registry.image}/blobs/{digest_of(first)}").data == first
