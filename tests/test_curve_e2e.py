"""CURVE on the intake, end to end: keys from `distlog keygen`, a distlogd
that requires them, real Python programs with right, wrong and no keys."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest
from test_metrics_e2e import scrape

from conftest import BIN_DIR, PATIENCE, Daemon

RUST_EXAMPLE = BIN_DIR / "examples" / "tutorial"

# Logs three records in a task, then closes the handler (waiting up to its
# linger for delivery). argv: endpoint, marker, [server key, own key file].
PROGRAM = """
import logging, sys
import distlog

endpoint, marker = sys.argv[1], sys.argv[2]
keys = dict(curve_server_key=sys.argv[3], curve_key=sys.argv[4]) if len(sys.argv) > 3 else {}
# A refused client retries for the whole linger: long enough to be
# counted on a busy machine; an admitted one returns once delivered.
handler = distlog.ZmqHandler(endpoint, linger=2.0, **keys)
handler.setFormatter(distlog.JSONFormatter())
logging.getLogger().addHandler(handler)
logging.getLogger().setLevel(logging.INFO)
with distlog.task(marker):
    logging.info("hello from %s", marker)
handler.close()
"""


def keygen(tmp_path: Path, name: str) -> tuple[Path, Path]:
    subprocess.run(
        [str(BIN_DIR / "distlog"), "keygen", name, "--dir", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=PATIENCE,
    )
    return tmp_path / f"{name}.key", tmp_path / f"{name}.pub"


def send(tmp_path: Path, d: Daemon, marker: str, server: Optional[Path], key: Optional[Path]) -> None:
    script = tmp_path / "program.py"
    script.write_text(PROGRAM)
    args = [str(server), str(key)] if server and key else []
    subprocess.run(
        [sys.executable, str(script), d.intake, marker, *args],
        check=True,
        capture_output=True,
        timeout=PATIENCE,
    )


def send_rust(d: Daemon, server: Path, key: Path) -> None:
    subprocess.run(
        [str(RUST_EXAMPLE), "--endpoint", d.intake, "--curve", str(server), str(key)],
        check=True,
        capture_output=True,
        timeout=PATIENCE,
    )


def markers(d: Daemon) -> set[str]:
    return {t["message"] for t in d.cli_json("tasks", "-n", "100")["tasks"]}


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    server_key, server_pub = keygen(tmp_path, "server")
    client_key, client_pub = keygen(tmp_path, "client")
    stranger_key, stranger_pub = keygen(tmp_path, "stranger")
    allow = tmp_path / "clients.allow"
    allow.write_text(f"# who may send\n{client_pub.read_text().strip()} billing\n")
    return dict(
        server_key=server_key,
        server_pub=server_pub,
        client_key=client_key,
        client_pub=client_pub,
        stranger_key=stranger_key,
        stranger_pub=stranger_pub,
        allow=allow,
    )


def test_only_clients_with_an_allowed_key_and_the_right_server_key_are_stored(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    d = Daemon(
        tmp_path / "store", "--curve-key", str(keys["server_key"]), "--curve-allow", str(keys["allow"])
    )
    try:
        send(tmp_path, d, "allowed", keys["server_pub"], keys["client_key"])
        d.wait_stored(3)

        send(tmp_path, d, "stranger", keys["server_pub"], keys["stranger_key"])
        d.wait_for("a refused key", lambda s: s["refused"]["key_not_allowed"] >= 1)

        send(tmp_path, d, "wrong-server", keys["stranger_pub"], keys["client_key"])
        d.wait_for("a wrong server key", lambda s: s["refused"]["wrong_server_key"] >= 1)

        send(tmp_path, d, "plain", None, None)
        stats = d.wait_for("a client without CURVE", lambda s: s["refused"]["no_curve"] >= 1)

        # The Rust client: the tutorial in Rust, seven records, with keys.
        send_rust(d, keys["server_pub"], keys["client_key"])
        stats = d.wait_stored(10)
        send_rust(d, keys["server_pub"], keys["stranger_key"])
        d.wait_for(
            "the Rust stranger refused",
            lambda s: s["refused"]["key_not_allowed"] >= stats["refused"]["key_not_allowed"] + 1,
        )

        assert markers(d) == {"allowed", "toplevel"}
        stats = d.cli_json("stats")
        assert stats["received"] == stats["store"]["stored"] == 10
        assert stats["refused"]["total"] >= 3
        _, series = scrape(d)
        for reason in ("key_not_allowed", "wrong_server_key", "no_curve"):
            key = ("distlog_intake_refused_total", (("reason", reason),))
            assert series[key] >= 1, (reason, series)

        # The allow-list is read again when it changes: no restart.
        with keys["allow"].open("a") as f:
            f.write(keys["stranger_pub"].read_text())
        send(tmp_path, d, "stranger-now-allowed", keys["server_pub"], keys["stranger_key"])
        d.wait_for("the newly allowed key", lambda s: s["store"]["stored"] >= 13)
        assert markers(d) == {"allowed", "toplevel", "stranger-now-allowed"}
    finally:
        d.stop()


def test_a_daemon_without_curve_still_takes_plain_clients(tmp_path: Path) -> None:
    d = Daemon(tmp_path / "store")
    try:
        send(tmp_path, d, "plain", None, None)
        stats = d.wait_stored(3)
        assert stats["refused"]["total"] == 0
    finally:
        d.stop()


def test_bad_keys_and_files_are_clear_errors(tmp_path: Path, keys: dict[str, Path]) -> None:
    run = [str(BIN_DIR / "distlogd"), "--listen", "tcp://127.0.0.1:*", "--http", "127.0.0.1:0"]
    store = ["--store", str(tmp_path / "s")]
    missing = subprocess.run(
        [*run, *store, "--curve-key", str(keys["server_key"]), "--curve-allow", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert missing.returncode != 0
    assert "curve-allow" in missing.stderr and "nope" in missing.stderr
    public_only = subprocess.run(
        [*run, *store, "--curve-key", str(keys["server_pub"]), "--curve-allow", str(keys["allow"])],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert public_only.returncode != 0 and "secret-key" in public_only.stderr
    alone = subprocess.run(
        [*run, *store, "--curve-key", str(keys["server_key"])],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert alone.returncode != 0 and "--curve-allow" in alone.stderr

    import distlog

    with pytest.raises(ValueError, match="go together"):
        distlog.ZmqHandler("tcp://127.0.0.1:1", curve_server_key=str(keys["server_pub"]))
    with pytest.raises(ValueError, match="neither a CURVE key"):
        distlog.ZmqHandler("tcp://127.0.0.1:1", curve_server_key="short", curve_key=str(keys["client_key"]))
    # The right length and alphabet, but its groups overflow 32 bits.
    with pytest.raises(ValueError, match="not a CURVE key"):
        distlog.ZmqHandler("tcp://127.0.0.1:1", curve_server_key="#" * 40, curve_key=str(keys["client_key"]))
    with pytest.raises(ValueError, match="needs both"):
        distlog.ZmqHandler(
            "tcp://127.0.0.1:1", curve_server_key=str(keys["server_pub"]), curve_key=str(keys["client_pub"])
        )
    # The public line of one pair with the secret line of another.
    mixed = keys["client_key"].parent / "mixed.key"
    lines = keys["client_key"].read_text().splitlines()
    secret = next(x for x in keys["stranger_key"].read_text().splitlines() if x.startswith("secret-key"))
    mixed.write_text("\n".join(secret if x.startswith("secret-key") else x for x in lines) + "\n")
    with pytest.raises(ValueError, match="not the public half"):
        distlog.ZmqHandler(
            "tcp://127.0.0.1:1", curve_server_key=str(keys["server_pub"]), curve_key=str(mixed)
        )
    assert (
        "not the public half"
        in subprocess.run(
            [
                str(BIN_DIR / "examples" / "tutorial"),
                "--endpoint",
                "tcp://127.0.0.1:1",
                "--curve",
                str(keys["server_pub"]),
                str(mixed),
            ],
            capture_output=True,
            text=True,
            timeout=PATIENCE,
        ).stderr
    )


def test_a_handler_refused_for_bad_keys_leaves_nothing_behind_at_exit(tmp_path: Path) -> None:
    # logging closes every handler it saw at exit, also one whose
    # constructor raised; that must not print a traceback.
    source = (
        "import distlog\n"
        "try:\n"
        "    distlog.ZmqHandler('tcp://127.0.0.1:1', curve_server_key='x' * 40 + 'y', curve_key='k')\n"
        "except ValueError as e:\n"
        "    print('refused:', e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, timeout=PATIENCE, check=True
    )
    assert "refused:" in done.stdout
    assert "Traceback" not in done.stderr, done.stderr


# Reports, once a second, how many pushed level settings it applies.
LISTENER = """
import logging, sys, time
import distlog
from distlog import _levels

intake, control = sys.argv[1], sys.argv[2]
keys = dict(curve_server_key=sys.argv[3], curve_key=sys.argv[4]) if len(sys.argv) > 3 else {}
handler = distlog.ZmqHandler(intake, control=control, **keys)
while True:
    print(len(_levels.current_rules()), flush=True)
    time.sleep(0.2)
"""


def test_with_curve_levels_reach_only_admitted_programs(tmp_path: Path, keys: dict[str, Path]) -> None:
    d = Daemon(
        tmp_path / "store", "--curve-key", str(keys["server_key"]), "--curve-allow", str(keys["allow"])
    )
    script = tmp_path / "listener.py"
    script.write_text(LISTENER)
    keyed = [str(keys["server_pub"]), str(keys["client_key"])]
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), d.intake, d.control, *extra], stdout=subprocess.PIPE, text=True
        )
        for extra in (keyed, [])
    ]
    try:
        d.cli("level", "set", "--logger", "app", "DEBUG")
        admitted, plain = procs
        assert admitted.stdout is not None and plain.stdout is not None
        while admitted.stdout.readline().strip() != "1":
            pass
        # The snapshot goes out every second: five more seconds of silence
        # for the plain program mean it is not let in.
        lines = [plain.stdout.readline().strip() for _ in range(25)]
        assert set(lines) == {"0"}, lines
        assert d.cli_json("stats")["refused"]["no_curve"] == 0  # the monitor watches the intake only
    finally:
        for p in procs:
            p.kill()
            p.wait()
        d.stop()


# Logs one record for each line read on stdin, on one connection for its
# whole life, and says "sent" after each.
LONG_LIVED = """
import logging, sys
import distlog

handler = distlog.ZmqHandler(sys.argv[1], curve_server_key=sys.argv[2], curve_key=sys.argv[3])
handler.setFormatter(distlog.JSONFormatter())
logging.getLogger().addHandler(handler)
logging.getLogger().setLevel(logging.INFO)
for line in sys.stdin:
    logging.info("line %s", line.strip())
    print("sent", flush=True)
"""


def test_a_removed_key_is_refused_on_its_open_connection(tmp_path: Path, keys: dict[str, Path]) -> None:
    d = Daemon(
        tmp_path / "store", "--curve-key", str(keys["server_key"]), "--curve-allow", str(keys["allow"])
    )
    script = tmp_path / "long_lived.py"
    script.write_text(LONG_LIVED)
    proc = subprocess.Popen(
        [sys.executable, str(script), d.intake, str(keys["server_pub"]), str(keys["client_key"])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None

    def log_line(n: int) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(f"{n}\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "sent"

    try:
        log_line(1)
        d.wait_stored(1)
        # Taken off the list (by rename, as docs/security.md says to edit
        # it): the connection stays up, its messages are dropped and counted.
        edited = tmp_path / "clients.allow.new"
        edited.write_text("# nobody\n")
        edited.replace(keys["allow"])
        n = 2
        stats = d.cli_json("stats")
        for _ in range(int(PATIENCE / 0.2)):
            if stats["refused"]["removed_key_messages"] > 0:
                break
            log_line(n)
            n += 1
            time.sleep(0.2)
            stats = d.cli_json("stats")
        else:
            raise AssertionError(f"the removed key's messages were never dropped: {stats}")
        dropped = stats["refused"]["removed_key_messages"]
        # Put back: the same connection is admitted again.
        edited.write_text(keys["client_pub"].read_text())
        edited.replace(keys["allow"])
        stored = stats["store"]["stored"]
        for _ in range(int(PATIENCE / 0.2)):
            if d.cli_json("stats")["store"]["stored"] > stored:
                break
            log_line(n)
            n += 1
            time.sleep(0.2)
        else:
            raise AssertionError("the key put back was never admitted again")
        stats = d.cli_json("stats")
        assert stats["refused"]["removed_key_messages"] >= dropped
        # Every line was either stored or dropped for the removed key: none lost otherwise.
        d.wait_for(
            "every line accounted for",
            lambda s: s["store"]["stored"] + s["refused"]["removed_key_messages"] == n - 1,
        )
        assert stats["refused"]["total"] == 0  # no handshake was refused: one connection throughout
        _, series = scrape(d)
        assert series[("distlog_intake_removed_key_messages_total", ())] >= 1, series
    finally:
        proc.kill()
        proc.wait()
        d.stop()
