"""A real OpenLDAP directory for tests: Debian's slapd from a plain slapd.conf on free loopback ports
(ldap:// with StartTLS, and ldaps://, both with a test CA's certificate), a few people and groups, and
ldapmodify to change them while the appliance watches."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.live import free_port, stop_process
from tests.support.nginx import TestCA

SUFFIX = "dc=example,dc=com"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-secret"
SERVICE_DN = f"cn=appliance,ou=services,{SUFFIX}"
SERVICE_PASSWORD = "service-secret"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"


@dataclass(frozen=True)
class Person:
    login: str
    name: str
    email: str
    password: str

    @property
    def dn(self) -> str:
        return f"uid={self.login},{PEOPLE}"


def group_dn(name: str) -> str:
    return f"cn={name},{GROUPS}"


class Slapd:
    """slapd in `directory`: `uri` (ldap://, StartTLS offered) and `ldaps_uri`, trusting `ca`."""

    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "data").mkdir(exist_ok=True)
        self.ca = TestCA(directory / "tls", hostname="ldap.test")
        self.port = free_port()
        self.ldaps_port = free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = directory / "slapd.log"

    @property
    def uri(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_uri(self) -> str:
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    def write_config(self) -> Path:
        d = self.directory
        includes = "\n".join(f"include /etc/ldap/schema/{name}.schema" for name in SCHEMAS)
        config = d / "slapd.conf"
        config.write_text(f"""{includes}
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile {self.ca.cert}
TLSCertificateFile {self.ca.server_cert}
TLSCertificateKeyFile {self.ca.server_key}

database mdb
maxsize 104857600
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {d}/data
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by * none
""")
        return config

    def start(self) -> Slapd:
        config = self.write_config()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - slapd writes to it until stop()
        self.process = subprocess.Popen(
            [SLAPD, "-f", str(config), "-h", f"{self.uri}/ {self.ldaps_uri}/", "-d", "0"],
            stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"slapd exited: {self.log_path.read_text()[-3000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("slapd did not listen within 20 s")
        self.add(f"""dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,{SUFFIX}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{SUFFIX}
objectClass: organizationalUnit
ou: groups

dn: ou=services,{SUFFIX}
objectClass: organizationalUnit
ou: services

dn: {SERVICE_DN}
objectClass: person
objectClass: simpleSecurityObject
cn: appliance
sn: appliance
userPassword: {SERVICE_PASSWORD}
""")
        return self

    def stop(self) -> None:
        stop_process(self.process, timeout=10)
        if self.process:
            self._log.close()

    # ---- changing the directory ----

    def _ldap_tool(self, tool: str, ldif: str, *args: str) -> None:
        done = subprocess.run([tool, "-x", "-H", self.uri, "-D", ROOT_DN, "-w", ROOT_PASSWORD, *args],
                              input=ldif, capture_output=True, text=True, check=False,
                              env=dict(os.environ, LDAPTLS_REQCERT="never"))
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stderr}\n{ldif}")

    def add(self, ldif: str) -> None:
        self._ldap_tool("ldapadd", ldif)

    def modify(self, ldif: str) -> None:
        self._ldap_tool("ldapmodify", ldif)

    def delete(self, dn: str) -> None:
        self._ldap_tool("ldapdelete", "", dn)

    def add_person(self, person: Person) -> Person:
        self.add(f"""dn: {person.dn}
objectClass: inetOrgPerson
uid: {person.login}
cn: {person.name}
sn: {person.name.split()[-1]}
mail: {person.email}
userPassword: {person.password}
""")
        return person

    def add_group(self, name: str, members: list[Person]) -> str:
        # groupOfNames needs a member; a group emptied later keeps the service account as a placeholder.
        lines = "".join(f"member: {p.dn}\n" for p in members) or f"member: {SERVICE_DN}\n"
        self.add(f"dn: {group_dn(name)}\nobjectClass: groupOfNames\ncn: {name}\n{lines}")
        return group_dn(name)

    def set_members(self, name: str, members: list[Person]) -> None:
        lines = "".join(f"member: {p.dn}\n" for p in members) or f"member: {SERVICE_DN}\n"
        self.modify(f"dn: {group_dn(name)}\nchangetype: modify\nreplace: member\n{lines}")

    def replace(self, dn: str, attribute: str, value: str) -> None:
        self.modify(f"dn: {dn}\nchangetype: modify\nreplace: {attribute}\n{attribute}: {value}\n")
