"""What `pystac-eds` writes where: stdout only once there is something to write, one-line
warnings, the conventions of tools people pipe, and `search --save` that never breaks
what its path is (#15.3, #13.12, #13 "Cosmetic")."""

from __future__ import annotations

import dataclasses
import json
import os
import pty
import select
import signal
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pystac_eds.cli._common import Terminated
from pystac_eds.cli.output import NEW_FILE_MODE, open_output
from pystac_eds.cli.search import sort_fields_as_values
from pystac_eds.testing.servers import Reply, StacServer, TokenServer

from .test_cli import COMMAND, environment, run, servers  # noqa: F401 - a fixture

ONE_ITEM = ("--ids", "sentinel-2-l2a-00003")


@pytest.fixture
def env(tmp_path: Path, servers: tuple[TokenServer, StacServer]) -> dict[str, str]:  # noqa: F811
    tokens, stac = servers
    return environment(tmp_path, tokens.settings(stac.url))


def ids(text: str) -> list[str]:
    return [feature["id"] for feature in json.loads(text)["features"]]


# ---------------------------------------------------------------------------------------
# stdout, stderr, exit statuses
# ---------------------------------------------------------------------------------------


def test_sort_fields_starting_with_a_dash_parse(env: dict[str, str]) -> None:
    assert sort_fields_as_values(["--sortby", "-properties.datetime", "+id", "-c", "x"]) == [
        "--sortby=-properties.datetime",
        "--sortby=+id",
        "-c",
        "x",
    ]
    result = run(env, "search", "--sortby", "-properties.datetime", "id", "--max-items", "2")
    assert result.returncode == 0, result.stderr
    assert len(ids(result.stdout)) == 2


def test_sortby_without_a_field_is_still_a_usage_error(env: dict[str, str]) -> None:
    result = run(env, "search", "--sortby", "--max-items", "2")
    assert result.returncode == 2 and "--sortby" in result.stderr


def test_library_warnings_are_one_line_each(env: dict[str, str]) -> None:
    # The test API declares neither the query nor the sort conformance class.
    result = run(
        env, "search", "--query", "eo:cloud_cover<5", "--sortby", "-id", "--max-items", "1"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines == [
        "pystac-eds: warning: the STAC API does not declare the query conformance class: "
        "it may ignore --query, or match nothing.",
        "pystac-eds: warning: the STAC API does not declare the sort conformance class: "
        "it may ignore --sortby, or match nothing.",
    ]


def test_an_error_on_the_first_page_leaves_stdout_empty(
    tmp_path: Path,
    servers: tuple[TokenServer, StacServer],  # noqa: F811
) -> None:
    tokens, _ = servers
    with StacServer(tokens) as stac:
        stac.page_faults[1] = [Reply(400, {"code": "BadRequest", "description": "no"})]
        result = run(environment(tmp_path, tokens.settings(stac.url)), "search")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("pystac-eds: error: the STAC API answered HTTP 400")


@pytest.mark.parametrize("output", [(), ("--ndjson",), ("--matched",)])
@pytest.mark.parametrize("collections", [("nope",), ("sentinel-2-l2a", "nope")])
def test_an_unknown_collection_is_an_error_alone(
    env: dict[str, str], output: tuple[str, ...], collections: tuple[str, ...]
) -> None:
    # Also next to one that exists: its items must not hide the typo, and --matched must
    # not count first and complain after.
    result = run(env, "search", "-c", *collections, *output)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "pystac-eds: error: no such collection: 'nope' "
        "(see `pystac-eds collections` for the ids).\n"
    )


def test_collections_that_sent_items_are_not_looked_up(
    tmp_path: Path,
    servers: tuple[TokenServer, StacServer],  # noqa: F811
) -> None:
    tokens, _ = servers
    with StacServer(tokens) as stac:
        env = environment(tmp_path, tokens.settings(stac.url))
        result = run(env, "search", "-c", "sentinel-2-l2a", "landsat-c2l2-sr", "--max-items", "3")
        assert result.returncode == 0, result.stderr
        assert len(json.loads(result.stdout)["features"]) == 3
        looked_up = [path for _, path, _ in stac.seen if path.startswith("/collections/")]
    # The first page held sentinel-2-l2a items only: one request, for the other id.
    assert looked_up == ["/collections/landsat-c2l2-sr"]


def test_a_reader_that_goes_away_ends_quietly_with_141(env: dict[str, str]) -> None:
    # As `| head` does once it has enough: here before the first byte, so the very first
    # write meets a closed pipe, whatever the machine's speed.
    process = subprocess.Popen(
        [*COMMAND, "search", "--ndjson"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 141  # 128 + SIGPIPE: what a shell reports for cat
    assert err == ""


def test_a_closed_stdout_is_a_clear_error(env: dict[str, str]) -> None:
    result = subprocess.run(
        ["bash", "-c", 'exec "$@" >&-', "_", *COMMAND, "token"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr == (
        "pystac-eds: error: standard output is closed (>&-): redirect it to a file, "
        "or use --save FILE.\n"
    )


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_stdout_names_it(env: dict[str, str]) -> None:
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [*COMMAND, "search", *ONE_ITEM],
            env=env,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr == (
        "pystac-eds: error: cannot write standard output: No space left on device\n"
    )


# ---------------------------------------------------------------------------------------
# On a terminal: the progress line and the --save summary
# ---------------------------------------------------------------------------------------


def _read_until(fd: int, wanted: bytes, seen: bytearray) -> None:
    while wanted not in seen:
        ready, _, _ = select.select([fd], [], [], 60)
        assert ready, f"no {wanted!r} in {bytes(seen)!r}"
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side closed
            chunk = b""
        assert chunk, f"no {wanted!r} in {bytes(seen)!r}"
        seen += chunk


def _page(stac: StacServer, start: int, size: int, *, more: bool) -> Reply:
    features = stac.collections["sentinel-2-l2a"][start : start + size]
    links = []
    if more:
        body = {"collections": ["sentinel-2-l2a"], "limit": size, "token": str(start + size)}
        links = [{"rel": "next", "href": stac.url + "search", "method": "POST", "body": body}]
    return Reply(200, {"type": "FeatureCollection", "features": features, "links": links})


def test_ctrl_c_during_the_progress_line_starts_a_new_line(
    tmp_path: Path,
    servers: tuple[TokenServer, StacServer],  # noqa: F811
    sigint_not_ignored: None,
) -> None:
    tokens, _ = servers
    with StacServer(tokens) as stac:
        # Page 1 comes after 1.2 s, past the progress line's 1 s delay; page 2 never does.
        stac.page_faults[1] = [dataclasses.replace(_page(stac, 0, 10, more=True), delay=1.2)]
        stac.page_faults[2] = [Reply(200, {}, delay=60)]
        primary, replica = pty.openpty()
        process = subprocess.Popen(
            [*COMMAND, "search", "-c", "sentinel-2-l2a", "--limit", "10", "--save", "out.json"],
            env=environment(tmp_path, tokens.settings(stac.url)),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=replica,
        )
        os.close(replica)
        seen = bytearray()
        try:
            _read_until(primary, b"10 items, 1 pages", seen)
            process.send_signal(signal.SIGINT)
            _read_until(primary, b"interrupted.", seen)
            assert process.wait(timeout=60) == 130
        finally:
            process.kill()
            os.close(primary)
    text = seen.decode().replace("\r\n", "\n")
    assert "\npystac-eds: error: interrupted." in text  # on a line of its own
    assert [p.name for p in tmp_path.iterdir() if p.name != "cwd"] == []  # no .part left


def test_save_says_what_it_wrote_on_a_terminal(env: dict[str, str], tmp_path: Path) -> None:
    primary, replica = pty.openpty()
    process = subprocess.Popen(
        [*COMMAND, "search", "-c", "landsat-c2l2-sr", "--save", "all.geojson"],
        env=env,
        cwd=tmp_path,
        stderr=replica,
    )
    os.close(replica)
    seen = bytearray()
    try:
        _read_until(primary, b"\n", seen)
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
        os.close(primary)
    assert seen.decode().strip() == "pystac-eds: wrote 30 items to all.geojson"
    assert len(ids((tmp_path / "all.geojson").read_text())) == 30


# ---------------------------------------------------------------------------------------
# --save: what the path is decides how it is written
# ---------------------------------------------------------------------------------------


def test_save_to_a_fifo_writes_into_it(env: dict[str, str], tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    result = run(env, "search", *ONE_ITEM, "--save", str(fifo))
    reader.join(timeout=60)
    assert result.returncode == 0, result.stderr
    assert ids(received[0]) == ["sentinel-2-l2a-00003"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still a FIFO, not a regular file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "pipe"]


def test_save_to_dev_null_leaves_the_device(env: dict[str, str]) -> None:
    before = os.stat("/dev/null")
    result = run(env, "search", *ONE_ITEM, "--save", "/dev/null")
    assert result.returncode == 0, result.stderr
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino


def test_save_to_dev_stdout_and_to_an_inherited_descriptor(
    env: dict[str, str], tmp_path: Path
) -> None:
    result = run(env, "search", *ONE_ITEM, "--save", "/dev/stdout")
    assert result.returncode == 0, result.stderr
    assert ids(result.stdout) == ["sentinel-2-l2a-00003"]
    assert_appended(env, tmp_path, 'exec "$@" 3>>"$LOG"', "/dev/fd/3")


def assert_appended(env: dict[str, str], folder: Path, shell: str, save: str) -> None:
    """``search --save save`` run by bash as ``shell`` (which opens $LOG for appending):
    the log keeps its first line and gets the search after it, never truncated."""
    log = folder / "log.txt"
    log.write_text("kept\n")
    appended = subprocess.run(
        ["bash", "-c", shell, "_", *COMMAND, "search", *ONE_ITEM, "--save", save],
        env={**env, "LOG": str(log)},
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert appended.returncode == 0, appended.stderr
    first, rest = log.read_text().split("\n", 1)
    assert first == "kept" and ids(rest) == ["sentinel-2-l2a-00003"]


@pytest.mark.parametrize("spelling", ["/dev/./stdout", "//dev/fd/1", "link-to-stdout"])
def test_save_to_stdout_spelt_otherwise_still_appends(
    env: dict[str, str], tmp_path: Path, spelling: str
) -> None:
    # Followed to the end, /dev/stdout of `>> log` is the regular file log: an atomic
    # replace there would overwrite what the user asked to append to.
    (tmp_path / "link-to-stdout").symlink_to("/dev/stdout")
    assert_appended(env, tmp_path, 'exec "$@" >>"$LOG"', spelling)


def test_save_through_a_symlink_writes_the_target(env: dict[str, str], tmp_path: Path) -> None:
    real = tmp_path / "data" / "items.geojson"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "latest.geojson"
    link.symlink_to(real)
    result = run(env, "search", *ONE_ITEM, "--save", str(link))
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert ids(real.read_text()) == ["sentinel-2-l2a-00003"]
    assert [p.name for p in real.parent.iterdir()] == ["items.geojson"]  # no .part left


def test_save_keeps_the_mode_of_a_file_and_creates_new_ones_private(
    env: dict[str, str], tmp_path: Path
) -> None:
    private = tmp_path / "private.geojson"
    private.write_text("old")
    private.chmod(0o600)
    shared = tmp_path / "shared.geojson"
    shared.write_text("old")
    shared.chmod(0o664)
    new = tmp_path / "new.geojson"
    for target in (private, shared, new):
        assert run(env, "search", *ONE_ITEM, "--save", str(target)).returncode == 0
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(shared.stat().st_mode) == 0o664
    assert stat.S_IMODE(new.stat().st_mode) == NEW_FILE_MODE == 0o600


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("", "pystac-eds: error: --save needs a file name (use no --save to write to stdout).\n"),
        (".", "pystac-eds: error: --save .: is a folder; name a file in it.\n"),
    ],
)
def test_save_to_nothing_or_a_folder_is_a_usage_error(
    env: dict[str, str], tmp_path: Path, path: str, message: str
) -> None:
    result = run(env, "search", *ONE_ITEM, "--save", path, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == "" and result.stderr == message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_save_to_a_full_device_names_it(env: dict[str, str]) -> None:
    result = run(env, "search", *ONE_ITEM, "--save", "/dev/full")
    assert result.returncode == 1
    assert result.stderr == "pystac-eds: error: cannot write /dev/full: No space left on device\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file away")
def test_save_as_root_keeps_the_owner_of_the_file(env: dict[str, str], tmp_path: Path) -> None:
    owned = tmp_path / "theirs.geojson"
    owned.write_text("old")
    owned.chmod(0o600)
    os.chown(owned, 65534, 65534)  # nobody's, as a file in a user's folder
    result = run(env, "search", *ONE_ITEM, "--save", str(owned))
    assert result.returncode == 0, result.stderr
    after = owned.stat()
    assert (after.st_uid, after.st_gid, stat.S_IMODE(after.st_mode)) == (65534, 65534, 0o600)
    assert ids(owned.read_text()) == ["sentinel-2-l2a-00003"]


@pytest.fixture
def default_handlers() -> Iterator[None]:
    """SIGTERM and SIGHUP as a plain shell leaves them (under `nohup`, SIGHUP is ignored)."""
    before = {signum: signal.signal(signum, signal.SIG_DFL) for signum in SAVE_SIGNALS}
    yield
    for signum, handler in before.items():
        signal.signal(signum, handler)


SAVE_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@pytest.mark.usefixtures("default_handlers")
@pytest.mark.parametrize("signum", SAVE_SIGNALS)
def test_sigterm_and_sighup_remove_the_partial_file(tmp_path: Path, signum: int) -> None:
    target = tmp_path / "items.geojson"
    target.write_text("previous")
    with pytest.raises(Terminated) as stopped, open_output(str(target)) as out:
        out.write("half of it")
        out.flush()
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]
        signal.raise_signal(signum)
    assert stopped.value.code == 128 + signum
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "items.geojson"]
    assert target.read_text() == "previous"
    # The handlers are put back afterwards.
    assert signal.getsignal(signum) is signal.SIG_DFL


@pytest.mark.usefixtures("default_handlers")
def test_under_nohup_a_hangup_does_not_end_the_save(tmp_path: Path) -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup starts the command
    target = tmp_path / "items.geojson"
    with open_output(str(target)) as out:
        out.write("half of it")
        signal.raise_signal(signal.SIGHUP)
        out.write(", and the rest")
    assert target.read_text() == "half of it, and the rest"
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN


def test_an_interrupted_search_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "items.geojson"
    target.write_text("previous")

    def pages() -> Iterator[str]:
        yield "part"
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), open_output(str(target)) as out:
        for chunk in pages():
            out.write(chunk)
    assert target.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "items.geojson"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any file")
def test_save_refuses_a_file_it_may_not_write(env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "frozen.geojson"
    target.write_text("kept")
    target.chmod(0o444)
    result = run(env, "search", *ONE_ITEM, "--save", str(target))
    assert result.returncode == 1
    assert result.stderr == f"pystac-eds: error: cannot write {target}: Permission denied\n"
    assert target.read_text() == "kept"
