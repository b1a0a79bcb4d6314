"""Gems made in Python (a .gem as `gem build` writes it), and running the real `gem` and `bundle`
against a live appliance with a home, gem directory and bundle of their own."""
from __future__ import annotations

import gzip
import hashlib
import io
import tarfile


def _requirement_yaml(requirements: list[tuple[str, str]], indent: str) -> str:
    lines = [f"{indent}requirements:"]
    for op, version in requirements:
        lines += [f'{indent}- - "{op}"', f"{indent}  - !ruby/object:Gem::Version", f"{indent}    version: '{version}'"]
    return "\n".join(lines)


def gemspec_yaml(name: str, version: str, *, platform: str = "ruby", metadata: dict[str, str] | None = None,
                 dependencies: list[tuple[str, list[tuple[str, str]]]] = (), summary: str | None = None) -> str:
    """metadata.gz's YAML as rubygems 3.3 writes it."""
    deps = []
    for dep_name, requirements in dependencies:
        deps.append(f"- !ruby/object:Gem::Dependency\n  name: {dep_name}\n  requirement: !ruby/object:Gem::Requirement\n"
                    f"{_requirement_yaml(requirements, '    ')}\n  type: :runtime\n  prerelease: false\n"
                    f"  version_requirements: !ruby/object:Gem::Requirement\n{_requirement_yaml(requirements, '    ')}")
    meta = "".join(f"\n  {k}: {v}" for k, v in (metadata or {}).items()) or " {}"
    return (f"--- !ruby/object:Gem::Specification\nname: {name}\nversion: !ruby/object:Gem::Version\n"
            f"  version: '{version}'\nplatform: {platform}\nauthors:\n- Tester\ndate: 2024-05-01 00:00:00.000000000 Z\n"
            f"dependencies:{(chr(10) + chr(10).join(deps)) if deps else ' []'}\nfiles:\n- lib/{name}.rb\n"
            f"licenses:\n- MIT\nmetadata:{meta}\nrequire_paths:\n- lib\n"
            f"required_ruby_version: !ruby/object:Gem::Requirement\n{_requirement_yaml([('>=', '0')], '  ')}\n"
            f"required_rubygems_version: !ruby/object:Gem::Requirement\n{_requirement_yaml([('>=', '0')], '  ')}\n"
            f"rubygems_version: 3.3.15\nspecification_version: 4\nsummary: {summary or name + ' for tests'}\n")


def tar_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            info.mode = 0o444
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def gem_members(spec_yaml: str, name: str = "demo", *, with_checksums: bool = True) -> dict[str, bytes]:
    """The members of a .gem: metadata.gz, data.tar.gz (one file, unique to the spec) and checksums."""
    metadata = gzip.compress(spec_yaml.encode(), mtime=0)
    source = f"# {hashlib.sha256(spec_yaml.encode()).hexdigest()}\nmodule Demo; end\n".encode()
    data = gzip.compress(tar_of({f"lib/{name}.rb": source}), mtime=0)
    members = {"metadata.gz": metadata, "data.tar.gz": data}
    if with_checksums:
        sums = "---\nSHA256:\n" + "".join(
            f"  {m}: {hashlib.sha256(members[m]).hexdigest()}\n" for m in ("metadata.gz", "data.tar.gz"))
        members["checksums.yaml.gz"] = gzip.compress(sums.encode(), mtime=0)
    return members


def gem_bytes(name: str, version: str, **spec) -> bytes:
    """A valid .gem of NAME and VERSION (options as `gemspec_yaml`)."""
    return tar_of(gem_members(gemspec_yaml(name, version, **spec), name))
