"""The one way a stored file is sent to a client: streamed, with Range, ETag and HEAD support."""
from __future__ import annotations

import datetime as dt

from flask import Response, redirect, request
from werkzeug.wsgi import wrap_file

from appliance.metrics import mark_download
from appliance.models.packages import Blob, PackageFile
from appliance.models.repositories import Repository
from appliance.packages import blob_store, counts_as_download, open_blob, record_download, record_transfer


def _is_download() -> bool:
    """Is this request a download (`packages.counts_as_download`: a GET of the whole file or its start)?"""
    return counts_as_download(request.method, request.range.ranges[0][0] if request.range else None)


def send_blob(blob: Blob, *, content_type: str, last_modified: dt.datetime, max_age: int = 0,
              transfer_of: PackageFile | Repository) -> Response:
    """Stream the bytes of `blob` from storage; a download meters its size as transfer of `transfer_of`
    (cloud billing of private packages), whether the bytes come from here or from a redirect.

    The body is the storage's file object wrapped for the server, so gunicorn hands a local file to
    sendfile() and no byte passes through Python; werkzeug answers Range and If-None-Match. With an
    object store that hands out short-lived URLs (`redirect_downloads`), a GET is sent there instead.
    """
    if _is_download():
        record_transfer(transfer_of, blob.size)
    if request.method == "GET" and (url := blob_store().download_url(blob.sha256)):
        return redirect(url, 307)
    stream = open_blob(blob)
    mark_download()
    response = Response(wrap_file(request.environ, stream), mimetype=content_type, direct_passthrough=True)
    response.content_length = blob.size
    response.set_etag(blob.sha256)
    response.last_modified = last_modified
    if max_age:
        response.cache_control.public = True
        response.cache_control.max_age = max_age
    return response.make_conditional(request.environ, accept_ranges=True, complete_length=blob.size)


def record_if_download(version) -> None:
    """Count a download of `version` when this request is one (`packages.counts_as_download`)."""
    if _is_download():
        record_download(version)


def send_package_file(package_file: PackageFile, *, max_age: int = 0) -> Response:
    """Stream `package_file` as a download named after it."""
    response = send_blob(package_file.blob, content_type=package_file.content_type,
                         last_modified=package_file.created_at, max_age=max_age, transfer_of=package_file)
    response.headers["Content-Disposition"] = f'attachment; filename="{package_file.name}"'
    return response
