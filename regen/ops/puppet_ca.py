"""The operator's commands on the CA (Puppet Server's CA, on the master): ``puppetserver ca``
setup, import, generate; its certificate_status API for signing, revoking and deleting, several
certnames a call; many hosts enrolled while their requests are signed as they arrive; what the
CA signed, from its logs; the CA's certificates extended with their own keys."""

from __future__ import annotations

import contextvars
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..core.errors import CommandFailed, HostsFailed, RegenLabError
from ..core.executor import ExecResult, Executor
from ..core.wait import PARALLEL
from . import puppet
from .puppet import Layout

# --- the CA (on the server) ------------------------------------------------------------


@dataclass(frozen=True)
class CA:
    """The CA as its operator reaches it: the master's executor, its certname (the name its
    API is called by, with the master's own cert) and the master's Layout (its cadir, ssldir)."""

    executor: Executor
    certname: str
    where: Layout

    @property
    def node(self) -> str:
        return self.executor.node

    def api_client(self) -> list[str]:
        """`curl` to the CA's API on the master, with the master's own cert, as `puppetserver ca` does."""
        return ["curl", "-sS", "--resolve", f"{self.certname}:8140:127.0.0.1", "--cacert", self.where.localcacert,
                "--cert", self.where.hostcert(self.certname), "--key", self.where.hostkey(self.certname)]

    def url(self, path: str) -> str:
        return f"https://{self.certname}:8140/puppet-ca/v1/{path}"


def ca_generate(ex: Executor, certname: str, alt_names: list[str] | None = None) -> ExecResult:
    argv = ["puppetserver", "ca", "generate", "--certname", certname]
    if alt_names:
        argv += ["--subject-alt-names", ",".join(alt_names)]
    return ex.run(argv)


def ca_setup(ca: CA, alt_names: list[str]) -> ExecResult:
    """A new CA (root + intermediate) and the master's cert, server stopped; the files
    are then given to the `puppet` user that Puppet Server runs as."""
    argv = ["puppetserver", "ca", "setup", "--certname", ca.certname]
    res = ca.executor.run(argv + (["--subject-alt-names", ",".join(alt_names)] if alt_names else []))
    ca.executor.run(["chown", "-R", "puppet:puppet", ca.where.cadir, ca.where.ssldir])
    return res


IMPORT_DIR = "/root/regenlab-ca-import"  # the import set on the CA host, removed once imported


def ca_import(ca: CA, alt_names: list[str], bundle: bytes, key: bytes, crls: bytes) -> ExecResult:
    """A CA from an external chain (`puppetserver ca import`, server stopped): the signing
    CA's cert bundle, its key and the CRL chain, written owner-only on the CA host for the
    import and removed after it, pass or fail; the master's cert is made as by ``ca setup``."""
    names = ("cert-bundle.pem", "private-key.pem", "crl-chain.pem")
    ex = ca.executor
    ex.run(["sh", "-c", 'rm -rf "$1" && mkdir -m 0700 "$1"', "sh", IMPORT_DIR])
    try:
        for name, data in zip(names, (bundle, key, crls), strict=True):
            ex.write_file(f"{IMPORT_DIR}/{name}", data, mode=0o600)
        argv = ["puppetserver", "ca", "import", "--certname", ca.certname,
                *(["--subject-alt-names", ",".join(alt_names)] if alt_names else []),
                "--cert-bundle", f"{IMPORT_DIR}/{names[0]}", "--private-key", f"{IMPORT_DIR}/{names[1]}",
                "--crl-chain", f"{IMPORT_DIR}/{names[2]}"]
        res = ex.run(argv)
    finally:
        ex.run(["rm", "-rf", IMPORT_DIR], check=False, timeout=20)
    ex.run(["chown", "-R", "puppet:puppet", ca.where.cadir, ca.where.ssldir])
    return res


def ca_log_mark(ex: Executor) -> tuple[int, int]:
    """How many lines the CA's log and access log hold now (for ``ca_signed_since``)."""
    res = ex.run(["sh", "-c", 'for f in "$@"; do wc -l < "$f" 2>/dev/null || echo 0; done', "sh",
                  puppet.SERVER_LOG, puppet.ACCESS_LOG], check=False, timeout=20)
    counts = [int(n) for n in res.stdout.split()] + [0, 0]
    return counts[0], counts[1]


@dataclass(frozen=True)
class Signings:
    """What the CA's own logs say it signed since a mark: every cert it signed, and those
    signed by name on the CA (a PUT of the certificate's status, as ``puppetserver ca sign``
    and the operator's curl send; autosigning sends none)."""

    signed: tuple[str, ...]
    by_hand: tuple[str, ...]

    def describe(self, certnames: list[str]) -> str:
        def names(which) -> str:
            return ", ".join(sorted(which)) or "none"

        wanted = set(certnames)
        signed, by_hand = wanted & set(self.signed), wanted & set(self.by_hand)
        return (f"the CA's log: signed {names(signed)}; signed by name on the CA: {names(by_hand)}; "
                f"autosigned on request: {names(signed - by_hand)}")


# what the CA logs for each cert it signs: puppetserver 7 "Signed certificate request for NAME";
# puppetserver 8 "Entity WHO signed N certificate(s): NAME, NAME." (WHO: CA when it autosigns)
SIGNED_7 = "s/.*Signed certificate request for \\([^ ]*\\).*/S \\1/p"
SIGNED_8 = "s/.* Entity [^ ]* signed [0-9]* certificates\\{0,1\\}: \\(.*\\)\\.$/S \\1/p"


def ca_signed_since(ex: Executor, mark: tuple[int, int]) -> Signings:
    script = ('tail -n +"$1" "$3" 2>/dev/null | sed -n -e "$5" -e "$6"; '
              'tail -n +"$2" "$4" 2>/dev/null | '
              'sed -n "s|.*\\"PUT /puppet-ca/v1/certificate_status/\\([^ ?]*\\)[^\\"]*\\" 204 .*|H \\1|p"')
    res = ex.run(["sh", "-c", script, "sh", str(mark[0] + 1), str(mark[1] + 1), puppet.SERVER_LOG, puppet.ACCESS_LOG,
                  SIGNED_7, SIGNED_8], check=False, timeout=20)
    rows = [line.split(" ", 1) for line in res.stdout.splitlines() if " " in line]
    signed = tuple(n.strip() for k, names in rows if k == "S" for n in names.split(","))
    return Signings(signed, tuple(n for k, n in rows if k == "H"))


def submit_crls(ca: CA, crls: bytes, check: bool = False) -> ExecResult:
    """CRLs of an external chain given to Puppet Server (`PUT
    /puppet-ca/v1/certificate_revocation_list`, with the CA host's own cert): it keeps each
    one newer than the CRL of the same issuer it holds, and serves them to the agents."""
    argv = [*ca.api_client(), "--fail-with-body", "-X", "PUT", "-H", "Content-Type: text/plain",
            "--data-binary", "@-", ca.url("certificate_revocation_list")]
    return ca.executor.run(argv, input=crls, check=check, timeout=60)


def signed_certs(ca: CA) -> set[str]:
    """The certnames the CA holds a signed cert of (its ``signed`` folder)."""
    res = ca.executor.run(["ls", f"{ca.where.cadir}/signed"], check=False, timeout=20)
    return {n[:-4] for n in res.stdout.split() if n.endswith(".pem")}


def ca_clean_signed(ca: CA, certnames: list[str]) -> list[str]:
    """``ca_clean`` of those of these certnames the CA holds a signed cert of (a clean
    repeated after an interruption skips what is already gone); returns them."""
    held = signed_certs(ca)
    signed = [n for n in certnames if n in held]
    if signed:
        ca_clean(ca, signed)
    return signed


def ca_forget(ca: CA, certnames: list[str]) -> list[str]:
    """What the CA holds of these hosts from an interrupted attempt, discarded before they
    request again: a signed cert cleaned (revoked, deleted), a pending request deleted (the
    CA would sign the old request, whose key the host no longer has: "The certificate for
    'CN=...' does not match its private key"). Returns the names it held something of."""
    signed = ca_clean_signed(ca, certnames)
    pending = sorted(pending_requests(ca) & set(certnames) - set(signed))
    if pending:
        ca_status_call(ca, pending, "DELETE", None, "204")
    return signed + pending


def ca_generate_anew(ca: CA, certname: str, alt_names: list[str] | None = None) -> None:
    """``puppetserver ca generate`` that can be repeated: what an earlier, interrupted
    attempt left of that name on the CA (a signed cert, or its request still pending) is
    discarded first, and the files it left on the CA host removed (``generate`` refuses
    each: "Existing file at", "already has a requested certificate"). A request or a signing
    that attempt had sent may land on the server a moment later (seen in the kill soak):
    then it is discarded and tried again."""
    for attempt in range(3):
        ca_forget(ca, [certname])
        where = ca.where
        ca.executor.run(["rm", "-f", where.hostcert(certname), where.hostkey(certname), where.publickey(certname)])
        try:
            ca_generate(ca.executor, certname, alt_names)
            return
        except CommandFailed as exc:
            # the server may still finish what an ended `generate` had asked for: once more
            if not any(s in exc.output for s in LATE_ARRIVALS) or attempt == 2:
                raise
            time.sleep(1)


LATE_ARRIVALS = ("Existing file at", "already has a requested certificate")


def pending_requests(ca: CA) -> set[str]:
    """The certnames with a request waiting on the CA (its ``requests`` folder)."""
    res = ca.executor.run(["ls", f"{ca.where.cadir}/requests"], check=False, timeout=20)
    return {n[:-4] for n in res.stdout.split() if n.endswith(".pem")}


def ca_status_call(ca: CA, certnames: list[str], method: str, body: str | None, ok: str) -> ExecResult:
    """One ``curl`` call to the CA's certificate_status API for several certnames, with the
    CA host's own cert (as ``puppetserver ca`` does); every answer must be ``ok``."""
    urls = [ca.url(f"certificate_status/{urllib.parse.quote(n)}") for n in certnames]
    argv = [*ca.api_client(), "--parallel", "--parallel-max", "4", "-X", method,
            *(["-H", "Content-Type: application/json", "--data", body] if body else []),
            "-o", "/dev/null", "-w", "%{http_code} %{url_effective}\\n", *urls]
    res = ca.executor.run(argv, timeout=120)
    refused = [line for line in res.stdout.splitlines() if not line.startswith(f"{ok} ")]
    if refused or len(res.stdout.splitlines()) != len(urls):
        raise CommandFailed(ca.node, argv, res.exit_code, "the CA refused: " + ("; ".join(refused) or res.output))
    return res


def ca_sign_requests(ca: CA, certnames: list[str]) -> ExecResult:
    """Sign these pending requests, by name, with one call to the CA's certificate_status
    API. One ``puppetserver ca sign --certname a,b`` would do the same, but its client
    waits 30 s on each name after the first (docs/puppet.md)."""
    return ca_status_call(ca, certnames, "PUT", '{"desired_state":"signed"}', "204")


def ca_clean(ca: CA, certnames: list[str]) -> None:
    """What ``puppetserver ca clean`` does (revoke: the serials go on the CRL; then the
    signed certs are deleted), in two calls for every certname instead of 30 s each."""
    ca_status_call(ca, certnames, "PUT", '{"desired_state":"revoked"}', "204")
    ca_status_call(ca, certnames, "DELETE", None, "204")


def enroll_all(ca: CA, jobs: list[tuple[str, Callable[[], object]]],
               sign: bool = True, limit: int = PARALLEL, interval: float = 1.0) -> list:
    """Many hosts enrolled at once: each job (a certname and the work on its host, which
    ends with ``bootstrap``) runs, ``limit`` at a time, while the operator signs on the CA
    the requests of exactly these certnames as they arrive, those pending at a time with
    one call; a stranger's request stays unsigned. With autosign (``sign`` false) the CA
    signs on its own. Returns each job's result. Once every job has ended, a failure is
    raised: one host's error as it is, several as one ``HostsFailed`` quoting each."""
    expected = {name for name, _ in jobs}
    with ThreadPoolExecutor(max_workers=max(1, min(limit, len(jobs)))) as pool:
        futures = [pool.submit(contextvars.copy_context().run, job) for _, job in jobs]
        while sign and not all(f.done() for f in futures):
            pending = sorted(pending_requests(ca) & expected)  # a request made again is signed again
            if pending:
                try:
                    ca_sign_requests(ca, pending)
                except CommandFailed:
                    pass  # a request replaced meanwhile: signed on the next pass; a host never signed fails itself
            time.sleep(interval)
        errors = [f.exception() for f in futures if f.exception() is not None]
        if len(errors) > 1 and all(isinstance(e, RegenLabError) for e in errors):
            raise HostsFailed(errors)  # type: ignore[arg-type]
        return [f.result() for f in futures]


# --- extending the CA (its certificates signed anew with the same keys) -------------------

EXTEND_DAYS = 5475  # Puppet's own CA lifetime (15 years), counted from the extension
# On the CA host, keys never leaving it: the bundle split; the root (self-signed) signed anew
# with its own key, the intermediate (if any) made a request again with its own key and
# signed by the new root, each with its extensions, its serial and `days` of validity (the
# hosts' certs name their issuer by key id AND by its issuer's name and serial: a new serial
# breaks every chain, "unable to get local issuer certificate");
# the master's cert checked against the result; the bundle put in place whole, with the
# old file's owner and mode.
_EXTEND = r'''
set -e
umask 077
cadir=$1 days=$2 leaf=$3
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
awk -v d="$d" '/BEGIN CERTIFICATE/ {n++} n {print > (d "/c-" n ".pem")}' "$cadir/ca_crt.pem"
root="" inter=""
for c in "$d"/c-*.pem; do
  s=$(openssl x509 -in "$c" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
  i=$(openssl x509 -in "$c" -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//')
  if [ "$s" = "$i" ]; then root=$c; else inter=$c; fi
done
[ -n "$root" ] || { echo "no self-signed root in $cadir/ca_crt.pem" >&2; exit 1; }
rootkey=$cadir/ca_key.pem
[ -z "$inter" ] || rootkey=$cadir/root_key.pem
[ -s "$rootkey" ] || { echo "no key of the CA's root here ($rootkey): a CA imported under an external root is \
renewed by that root's owner, not on the CA host" >&2; exit 1; }
serial() { echo "0x$(openssl x509 -in "$1" -noout -serial | cut -d= -f2)"; }
openssl x509 -in "$root" -signkey "$rootkey" -days "$days" -set_serial "$(serial "$root")" -out "$d/root.new"
if [ -n "$inter" ]; then
  openssl x509 -x509toreq -in "$inter" -signkey "$cadir/ca_key.pem" -copy_extensions copyall -out "$d/inter.csr"
  openssl x509 -req -in "$d/inter.csr" -CA "$d/root.new" -CAkey "$rootkey" -copy_extensions copyall \
    -days "$days" -set_serial "$(serial "$inter")" -out "$d/inter.new"
  cat "$d/inter.new" "$d/root.new" > "$d/bundle"
  openssl verify -CAfile "$d/root.new" -untrusted "$d/inter.new" "$leaf" >/dev/null
else
  cp "$d/root.new" "$d/bundle"
  openssl verify -CAfile "$d/root.new" "$leaf" >/dev/null
fi
cp "$d/bundle" "$cadir/ca_crt.pem.new"
chown --reference="$cadir/ca_crt.pem" "$cadir/ca_crt.pem.new"
chmod --reference="$cadir/ca_crt.pem" "$cadir/ca_crt.pem.new"
mv "$cadir/ca_crt.pem.new" "$cadir/ca_crt.pem"
'''


def extend_ca(ca: Executor, where: Layout, master_cert: str, days: int = EXTEND_DAYS) -> ExecResult:
    """The CA's certificates signed anew with their own keys for ``days`` (what puppetlabs'
    ca_extend does), on the CA host: ``$cadir/ca_crt.pem`` replaced; the keys stay where they are."""
    return ca.run(["sh", "-c", _EXTEND, "sh", where.cadir, str(days), master_cert], timeout=60)


def replace_bundle(ex: Executor, path: str, bundle: bytes) -> None:
    """A host's CA bundle replaced whole, keeping the owner of the file it replaces."""
    owner = ex.run(["stat", "-c", "%U:%G", path], check=False, timeout=20).stdout.strip() or "root:root"
    ex.write_file(path, bundle, mode=0o644, owner=owner)
