"""NuGet packages built in tests (bytes, as `nuget pack` lays them out), and the real NuGet.exe run
under mono with its own HOME, package folders and NuGet.Config."""

from __future__ import annotations

import io
import os
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

REPO_ROOT = Path(__file__).resolve().parents[2]
NUGET_EXE = REPO_ROOT / ".venv" / "nuget" / "node_modules" / "nuget-exe" / "nuget-5.8.0.exe"
NUSPEC_NS = "http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd"


def nuspec_xml(package_id: str, version: str, *, description: str = "A test package", authors: str = "tests",
               dependencies: dict[str, list[tuple[str, str]]] | None = None, repository_url: str | None = None,
               tags: str = "", package_type: str | None = None) -> bytes:
    """A .nuspec; `dependencies` maps a target framework ('' for any) to (id, version range) pairs."""
    parts = [f"<id>{escape(package_id)}</id>", f"<version>{escape(version)}</version>",
             f"<authors>{escape(authors)}</authors>", f"<description>{escape(description)}</description>"]
    if tags:
        parts.append(f"<tags>{escape(tags)}</tags>")
    if repository_url:
        parts.append(f'<repository type="git" url={quoteattr(repository_url)} />')
    if package_type:
        parts.append(f'<packageTypes><packageType name={quoteattr(package_type)} /></packageTypes>')
    if dependencies:
        groups = []
        for framework, deps in dependencies.items():
            inner = "".join(f"<dependency id={quoteattr(d)} version={quoteattr(r)} />" for d, r in deps)
            attribute = f" targetFramework={quoteattr(framework)}" if framework else ""
            groups.append(f"<group{attribute}>{inner}</group>")
        parts.append(f"<dependencies>{''.join(groups)}</dependencies>")
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<package xmlns="{NUSPEC_NS}"><metadata>'
            f"{''.join(parts)}</metadata></package>").encode()


def nupkg_bytes(package_id: str, version: str, *, nuspec: bytes | None = None,
                entries: dict[str, bytes] | None = None, **nuspec_fields) -> bytes:
    """A .nupkg: the nuspec at the root, a library, and whatever `entries` adds."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{package_id}.nuspec", nuspec if nuspec is not None
                         else nuspec_xml(package_id, version, **nuspec_fields))
        archive.writestr("lib/netstandard2.0/_._", f"{package_id} {version}".encode())
        for name, data in (entries or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def multipart(data: bytes, filename: str = "package.nupkg") -> tuple[bytes, str]:
    """The body nuget push sends: one form part named `package`."""
    boundary = "nuget-test-boundary-7d1f"
    body = (f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
            f'Content-Disposition: form-data; name="package"; filename="{filename}"\r\n\r\n').encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@dataclass
class NuGetResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class NuGet:
    """NuGet.exe under mono in `workdir`: its own HOME and package folders, and a NuGet.Config with one
    source (`source_url`) and, when `token` is given, its credentials.

    With `hosts_file`, mono runs in a mount namespace of its own where that file is /etc/hosts, so
    names such as `nuget.appliance.test` resolve for this process only (needs root).
    """

    def __init__(self, exe: Path, workdir: Path, source_url: str, token: str | None, *,
                 user: str = "tests", hosts_file: Path | None = None):
        self.exe = exe
        self.workdir = workdir
        self.source_url = source_url
        self.hosts_file = hosts_file
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "home").mkdir(exist_ok=True)
        credentials = ""
        if token:
            credentials = (f'<packageSourceCredentials><appliance><add key="Username" value={quoteattr(user)} />'
                           f'<add key="ClearTextPassword" value={quoteattr(token)} /></appliance>'
                           f"</packageSourceCredentials>")
        self.config = workdir / "NuGet.Config"
        self.config.write_text(
            '<?xml version="1.0" encoding="utf-8"?>\n<configuration><packageSources><clear />'
            f'<add key="appliance" value={quoteattr(source_url)} protocolVersion="3" /></packageSources>'
            f"{credentials}</configuration>\n")
        self.env = dict(
            os.environ,
            HOME=str(workdir / "home"),
            XDG_DATA_HOME=str(workdir / "home" / ".local" / "share"),
            XDG_CONFIG_HOME=str(workdir / "home" / ".config"),
            NUGET_PACKAGES=str(workdir / "packages-cache"),
            NUGET_HTTP_CACHE_PATH=str(workdir / "http-cache"),
            NUGET_PLUGINS_CACHE_PATH=str(workdir / "plugins-cache"),
        )

    def pack(self, package_id: str, version: str, *, payload_bytes: int = 0, **nuspec_fields) -> Path:
        """`nuget pack` of a .nuspec written here: a library file in lib/netstandard2.0, and
        `payload_bytes` of random content in content/ when asked."""
        source = self.workdir / f"{package_id}.{version}-src"
        (source / "lib").mkdir(parents=True, exist_ok=True)
        (source / "lib" / f"{package_id}.txt").write_text(f"{package_id} {version}\n")
        files = '<file src="lib/*.txt" target="lib/netstandard2.0/" />'
        if payload_bytes:
            (source / "payload.bin").write_bytes(os.urandom(payload_bytes))
            files += '<file src="payload.bin" target="content/" />'
        nuspec = nuspec_xml(package_id, version, **nuspec_fields).replace(
            b"</metadata>", f"</metadata><files>{files}</files>".encode())
        (source / f"{package_id}.nuspec").write_bytes(nuspec)
        result = self.run("pack", str(source / f"{package_id}.nuspec"), "-OutputDirectory", str(self.workdir),
                          config=False)
        assert result.returncode == 0, result.output
        return self.workdir / f"{package_id}.{version}.nupkg"

    def run(self, *args: str, config: bool = True, timeout: int = 180) -> NuGetResult:
        """nuget ARGS in the work directory. Commands that take no -ConfigFile (pack, search) find the
        NuGet.Config of the work directory all the same (`config=False`)."""
        command = ["mono", str(self.exe), *args, "-NonInteractive", "-Verbosity", "detailed"]
        if config:
            command += ["-ConfigFile", str(self.config)]
        if self.hosts_file is not None:
            command = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"',
                       str(self.hosts_file), *command]
        completed = subprocess.run(command, check=False, cwd=self.workdir, env=self.env, capture_output=True,
                                   text=True, timeout=timeout)
        return NuGetResult(completed.returncode, completed.stdout, completed.stderr)


def require_nuget() -> Path:
    """NuGet.exe as scripts/install-test-deps.sh installs it; on CI a missing one fails the run."""
    import pytest

    from tests.clients.conftest import require_client

    require_client("mono")
    if not NUGET_EXE.exists():
        message = f"{NUGET_EXE} is missing: scripts/install-test-deps.sh installs it"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return NUGET_EXE
