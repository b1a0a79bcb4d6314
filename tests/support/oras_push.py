"""Run by the client tests in a mount namespace of their own (see skopeo.run_with_hosts): the oras
Python client pushes an artifact with a subject, chunked, then lists the image's tags.

    python oras_push.py '{"registry": ..., "image": ..., "tag": ..., "user": ..., "password": ...,
                          "file": ..., "config": ..., "config_type": ..., "subject": {...}}'
"""
from __future__ import annotations

import json
import sys

import oras.client
import oras.oci


def main() -> None:
    args = json.loads(sys.argv[1])
    client = oras.client.OrasClient(hostname=args["registry"], insecure=True)
    client.auth.set_basic_auth(args["user"], args["password"])
    target = f"{args['registry']}/{args['image']}:{args['tag']}"
    subject = oras.oci.Subject(**args["subject"]) if args.get("subject") else None
    response = client.push(target=target, files=[args["file"]], subject=subject, do_chunked=True,
                           chunk_size=args.get("chunk_size", 1024), disable_path_validation=True,
                           manifest_config=f"{args['config']}:{args['config_type']}", quiet=True)
    print(json.dumps({"status": response.status_code, "digest": response.headers.get("Docker-Content-Digest"),
                      "subject": response.headers.get("OCI-Subject"),
                      "tags": client.get_tags(f"{args['registry']}/{args['image']}")}))


if __name__ == "__main__":
    main()
