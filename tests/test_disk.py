"""The persistent token store: real files under tmp_path, real subprocesses, no mocks of os."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pystac_eds import Credentials, TokenCache
from pystac_eds.disk import TOKENS_FOLDER, DiskStore, default_folder, store_from_env
from pystac_eds.tokens import Token

KEY = "0123456789abcdef"
NOW = 1_700_000_000.0
TOKEN = Token(value="eyJ.the-access-token-value.sig", expires_at=NOW + 3600, issued_at=NOW)
ROOT = str(Path(__file__).resolve().parents[1])
posix_only = pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX owners and modes")
root_only = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown"
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def store(folder: Path) -> DiskStore:
    return DiskStore(folder)


@pytest.fixture(autouse=True)
def _debug_logs_never_hold_the_token(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG, logger="pystac_eds.disk")
    yield
    assert TOKEN.value not in caplog.text


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def record(**changes: object) -> bytes:
    data: dict[str, object] = {
        "version": 1,
        "access_token": "tok",
        "expires_at": NOW + 60,
        "issued_at": NOW,
    }
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not None}).encode()


def tokens(store: DiskStore) -> Path:
    """The store's tokens folder, created by the store itself (as only it may be)."""
    folder = store.private_folder(create=True)
    assert folder is not None
    return folder


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o600)


def python(code: str, *args: str, stdin: int | None = None) -> subprocess.Popen[str]:
    """Run ``code`` in a fresh interpreter that imports this checkout, stdout piped."""
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], text=True, env=env, stdin=stdin, stdout=subprocess.PIPE
    )


# -- round trip and expiry ----------------------------------------------------------------


def test_round_trip(store: DiskStore) -> None:
    assert store.load(KEY, now=NOW) is None
    store.save(KEY, TOKEN)
    assert store.load(KEY, now=NOW) == TOKEN
    assert DiskStore(store.folder).load(KEY, now=NOW) == TOKEN  # another instance, same files


def test_file_holds_the_token_json_and_nothing_else(store: DiskStore) -> None:
    canary = "CANARY-client-secret-never-stored"
    store.save(KEY, TOKEN)
    # No temporary file left behind, nothing written beside the tokens folder.
    assert names(store.folder) == [TOKENS_FOLDER]
    assert names(store.tokens_folder) == sorted(["CACHEDIR.TAG", f"{KEY}.eds-token.json"])
    raw = store.path(KEY).read_bytes()
    assert canary.encode() not in raw
    assert json.loads(raw) == {
        "version": 1,
        "access_token": TOKEN.value,
        "expires_at": TOKEN.expires_at,
        "issued_at": TOKEN.issued_at,
    }


def test_expired_token_is_not_returned(store: DiskStore) -> None:
    store.save(KEY, TOKEN)
    assert store.load(KEY, now=TOKEN.expires_at - 0.001) == TOKEN
    assert store.load(KEY, now=TOKEN.expires_at) is None
    assert store.load(KEY, now=TOKEN.expires_at + 10) is None
    store.save(KEY, Token("old", expires_at=time.time() - 1, issued_at=time.time() - 3601))
    assert store.load(KEY) is None  # default now is the real clock


def test_newer_save_replaces_older(store: DiskStore) -> None:
    store.save(KEY, TOKEN)
    newer = Token("a-newer-token-value", expires_at=NOW + 7200, issued_at=NOW + 3600)
    store.save(KEY, newer)
    assert store.load(KEY, now=NOW) == newer


@pytest.mark.parametrize("key", ["", "../evil", "a/b", "ABC", "x.json", "a" * 129, "é"])
def test_keys_that_could_escape_or_collide_are_refused(store: DiskStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.load(key)
    with pytest.raises(ValueError):
        store.save(key, TOKEN)
    with pytest.raises(ValueError), store.lock(key):
        pass
    assert not store.folder.exists()


# -- damaged files ------------------------------------------------------------------------

VALID = record()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{", id="corrupt"),
        pytest.param(VALID[: len(VALID) // 2], id="truncated"),
        pytest.param(VALID[:-1], id="truncated-by-one"),
        pytest.param(b"\xff\xfe\x00", id="not-utf8"),
        pytest.param(b"[]", id="list"),
        pytest.param(b"null", id="null"),
        pytest.param(b"[" * 100_000, id="too-deep-and-too-big"),
        pytest.param(b" " * 70_000 + VALID, id="too-big"),
        pytest.param(record(version=2), id="future-version"),
        pytest.param(record(version=None), id="no-version"),
        pytest.param(record(access_token=None), id="no-token"),
        pytest.param(record(access_token=123), id="token-not-str"),
        pytest.param(record(access_token=""), id="token-empty"),
        pytest.param(record(access_token="tok\r\nX-Injected: 1"), id="token-crlf"),  # #13 item 4
        pytest.param(record(access_token="tok en"), id="token-space"),
        pytest.param(record(expires_at="soon"), id="expiry-str"),
        pytest.param(record(expires_at=True), id="expiry-bool"),
        pytest.param(record(expires_at=None), id="no-expiry"),
        pytest.param(record(issued_at=[1]), id="issued-list"),
        pytest.param(VALID.replace(str(NOW + 60).encode(), b"NaN"), id="expiry-nan"),
        pytest.param(VALID.replace(str(NOW + 60).encode(), b"Infinity"), id="expiry-inf"),
    ],
)
def test_damaged_file_is_ignored_then_replaced(store: DiskStore, data: bytes) -> None:
    path = tokens(store) / f"{KEY}.eds-token.json"
    write_private(path, data)
    assert store.load(KEY, now=NOW) is None
    store.save(KEY, TOKEN)
    assert store.load(KEY, now=NOW) == TOKEN


def test_valid_record_helper_is_accepted(store: DiskStore) -> None:
    # Guards the test above: its inputs fail for the reason named, not for a typo.
    write_private(tokens(store) / f"{KEY}.eds-token.json", VALID)
    assert store.load(KEY, now=NOW) == Token("tok", NOW + 60, NOW)


def test_symlink_is_never_followed_and_is_replaced(store: DiskStore, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    write_private(elsewhere, record(access_token="planted"))
    link = tokens(store) / f"{KEY}.eds-token.json"
    link.symlink_to(elsewhere)
    assert store.load(KEY, now=NOW) is None
    store.save(KEY, TOKEN)
    assert not link.is_symlink()  # the link itself was replaced ...
    assert json.loads(elsewhere.read_bytes())["access_token"] == "planted"  # ... not its target
    assert store.load(KEY, now=NOW) == TOKEN


def test_symlinked_lock_file_is_replaced(store: DiskStore, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("untouched")
    (tokens(store) / f"{KEY}.eds-token.lock").symlink_to(target)
    with store.lock(KEY):
        pass
    assert not (store.tokens_folder / f"{KEY}.eds-token.lock").is_symlink()
    assert target.read_text() == "untouched"


@posix_only
def test_fifo_in_place_of_the_file_neither_hangs_nor_is_read(store: DiskStore) -> None:
    os.mkfifo(tokens(store) / f"{KEY}.eds-token.json", 0o600)
    assert store.load(KEY, now=NOW) is None  # O_NONBLOCK: no writer needed
    store.save(KEY, TOKEN)
    assert store.load(KEY, now=NOW) == TOKEN


@posix_only
@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_lock_file_that_is_not_a_file_neither_hangs_nor_raises(store: DiskStore, kind: str) -> None:
    path = tokens(store) / f"{KEY}.eds-token.lock"
    path.mkdir() if kind == "folder" else os.mkfifo(path, 0o600)
    with store.lock(KEY):
        store.save(KEY, TOKEN)
    assert store.load(KEY, now=NOW) == TOKEN


def test_hard_link_at_the_token_path_is_replaced_not_written_through(
    store: DiskStore, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    write_private(elsewhere, record(access_token="planted"))
    os.link(elsewhere, tokens(store) / f"{KEY}.eds-token.json")
    store.save(KEY, TOKEN)
    assert json.loads(elsewhere.read_bytes())["access_token"] == "planted"
    assert store.load(KEY, now=NOW) == TOKEN


def test_directory_in_place_of_the_file(store: DiskStore) -> None:
    (tokens(store) / f"{KEY}.eds-token.json").mkdir()
    assert store.load(KEY, now=NOW) is None
    store.save(KEY, TOKEN)  # cannot replace a directory: logged, not raised
    assert store.load(KEY, now=NOW) is None
    # The temporary file was cleaned up.
    assert names(store.tokens_folder) == sorted(["CACHEDIR.TAG", f"{KEY}.eds-token.json"])


def test_unusable_folder_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    store = DiskStore(not_a_folder)
    store.save(KEY, TOKEN)
    assert store.load(KEY, now=NOW) is None
    with store.lock(KEY):  # a no-op lock rather than an error
        pass
    store.clear()
    assert "token cache" in caplog.text


# -- permissions and owners ---------------------------------------------------------------


@posix_only
def test_folder_0700_and_file_0600_whatever_the_umask(store: DiskStore) -> None:
    old = os.umask(0)
    try:
        store.save(KEY, TOKEN)
        with store.lock(KEY):
            pass
    finally:
        os.umask(old)
    assert mode(store.tokens_folder) == 0o700
    assert mode(store.path(KEY)) == 0o600
    assert mode(store.tokens_folder / f"{KEY}.eds-token.lock") == 0o600


@posix_only
def test_loose_location_is_used_but_never_changed(store: DiskStore) -> None:
    # A project folder shared with a group (setgid, group-writable): tokens go into a
    # private subfolder; the folder itself keeps its mode.
    store.folder.mkdir()
    store.folder.chmod(0o2775)
    store.save(KEY, TOKEN)
    assert mode(store.folder) == 0o2775
    assert mode(store.tokens_folder) == 0o700
    assert store.load(KEY, now=NOW) == TOKEN


@posix_only
def test_shared_sticky_location_keeps_its_mode(store: DiskStore) -> None:
    store.folder.mkdir()
    store.folder.chmod(0o1777)  # like /tmp: making it private would break everyone else
    store.save(KEY, TOKEN)
    assert mode(store.folder) == 0o1777
    assert names(store.folder) == [TOKENS_FOLDER]
    assert mode(store.tokens_folder) == 0o700
    assert store.load(KEY, now=NOW) == TOKEN


@posix_only
def test_loose_tokens_folder_switches_the_store_off_with_one_warning(
    store: DiskStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.save(KEY, TOKEN)
    store.tokens_folder.chmod(0o755)  # someone loosened it: others may have read or planted
    assert store.load(KEY, now=NOW) is None
    store.save(KEY, Token("another-token", NOW + 60, NOW))
    store.clear()
    with store.lock(KEY):
        pass
    assert mode(store.tokens_folder) == 0o755  # not changed back behind the user's back
    assert store.off_reason is not None and "not private" in store.off_reason
    assert DiskStore(store.folder).load(KEY, now=NOW) is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "EDS_TOKEN_CACHE" in warnings[0].getMessage()
    assert json.loads(store.path(KEY).read_bytes())["access_token"] == TOKEN.value


@posix_only
@pytest.mark.parametrize("kind", ["untagged", "foreign-tag", "symlink"])
def test_tokens_folder_not_made_by_pystac_eds_is_not_used(
    store: DiskStore, tmp_path: Path, kind: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    store.folder.mkdir()
    if kind == "symlink":
        store.tokens_folder.symlink_to(elsewhere)
    else:
        store.tokens_folder.mkdir(mode=0o700)
        if kind == "foreign-tag":
            (store.tokens_folder / "CACHEDIR.TAG").write_bytes(b"Signature: something else\n")
    target = store.tokens_folder if kind != "symlink" else elsewhere
    write_private(target / f"{KEY}.eds-token.json", VALID)
    before = names(target)
    assert store.load(KEY, now=NOW) is None
    store.save(KEY, TOKEN)
    store.clear()
    assert names(target) == before
    assert json.loads((target / f"{KEY}.eds-token.json").read_bytes())["access_token"] == "tok"
    assert store.off_reason is not None


@posix_only
def test_file_readable_by_others_is_ignored(store: DiskStore) -> None:
    path = tokens(store) / f"{KEY}.eds-token.json"
    write_private(path, VALID)
    path.chmod(0o644)
    assert store.load(KEY, now=NOW) is None
    store.save(KEY, TOKEN)
    assert mode(path) == 0o600
    assert store.load(KEY, now=NOW) == TOKEN


@root_only
def test_folder_of_another_user_is_not_used(store: DiskStore) -> None:
    write_private(tokens(store) / f"{KEY}.eds-token.json", VALID)
    os.chown(store.tokens_folder, 4242, 4242)
    assert store.load(KEY, now=NOW) is None
    store.save(KEY, TOKEN)
    assert json.loads(store.path(KEY).read_bytes())["access_token"] == "tok"
    store.clear()
    assert store.path(KEY).exists()
    assert os.stat(store.tokens_folder).st_uid == 4242


@root_only
def test_file_of_another_user_is_ignored(store: DiskStore) -> None:
    path = tokens(store) / f"{KEY}.eds-token.json"
    write_private(path, VALID)
    os.chown(path, 4242, 4242)
    assert store.load(KEY, now=NOW) is None
    store.save(KEY, TOKEN)
    assert os.stat(path).st_uid == os.geteuid()
    assert store.load(KEY, now=NOW) == TOKEN


def test_clear_removes_token_files_only(store: DiskStore) -> None:
    store.save(KEY, TOKEN)
    store.save("fedcba", TOKEN)
    with store.lock(KEY):
        pass
    (store.tokens_folder / "notes.txt").write_text("keep me")
    (store.tokens_folder / f"{KEY}.json").write_text("keep me: not a name the store writes")
    (store.tokens_folder / f".{KEY}.0011223344556677.eds-token.tmp").write_text("leftover")
    store.clear()
    assert store.load(KEY, now=NOW) is None
    assert store.load("fedcba", now=NOW) is None
    kept = ["CACHEDIR.TAG", f"{KEY}.eds-token.lock", f"{KEY}.json", "notes.txt"]
    assert names(store.tokens_folder) == sorted(kept)
    DiskStore(store.folder / "never-created").clear()


# -- where the folder is ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["off", "OFF", " off ", "0", "false", "no", "none", "disabled"])
def test_env_switches_the_store_off(value: str) -> None:
    assert store_from_env({"EDS_TOKEN_CACHE": value}) is None


def test_env_names_the_folder(tmp_path: Path) -> None:
    store = store_from_env({"EDS_TOKEN_CACHE": str(tmp_path / "custom")})
    assert store is not None
    assert store.folder == tmp_path / "custom"
    store.save(KEY, TOKEN)
    assert (tmp_path / "custom" / TOKENS_FOLDER / f"{KEY}.eds-token.json").is_file()


@pytest.mark.parametrize("value", [None, "", "  ", "on", "1", "true", "default"])
def test_env_unset_or_on_means_the_default_folder(tmp_path: Path, value: str | None) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}
    if value is not None:
        env["EDS_TOKEN_CACHE"] = value
    store = store_from_env(env, platform="linux")
    assert store is not None
    assert store.folder == tmp_path / "xdg" / "pystac-eds"


def test_relative_folder_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = store_from_env({"EDS_TOKEN_CACHE": "rel"})
    assert store is not None
    assert store.folder == tmp_path / "rel"


def test_default_folder_per_platform(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert default_folder({"HOME": str(home)}, platform="linux") == home / ".cache/pystac-eds"
    assert default_folder({"HOME": str(home), "XDG_CACHE_HOME": "relative"}, platform="linux") == (
        home / ".cache/pystac-eds"
    )  # the XDG spec says to ignore a relative path
    assert default_folder({"HOME": str(home), "XDG_CACHE_HOME": "/x"}, platform="linux") == Path(
        "/x/pystac-eds"
    )
    assert default_folder({"HOME": str(home)}, platform="darwin") == (
        home / "Library/Caches/pystac-eds"
    )
    assert default_folder({"LOCALAPPDATA": str(tmp_path / "L")}, platform="win32") == (
        tmp_path / "L" / "pystac-eds" / "Cache"
    )
    assert default_folder({"USERPROFILE": str(home)}, platform="win32") == (
        home / "AppData" / "Local" / "pystac-eds" / "Cache"
    )
    assert default_folder({}).name == "pystac-eds" or default_folder({}).parts[-2:] == (
        "pystac-eds",
        "Cache",
    )


def test_store_pickles(store: DiskStore) -> None:
    import pickle

    store.save(KEY, TOKEN)
    clone = pickle.loads(pickle.dumps(store))
    assert clone.folder == store.folder
    assert clone.load(KEY, now=NOW) == TOKEN


# -- across processes ---------------------------------------------------------------------

HOLDER = """
import sys
from pathlib import Path
from pystac_eds.disk import DiskStore
folder, key, marker = sys.argv[1:]
with DiskStore(folder).lock(key):
    print("locked", flush=True)
    sys.stdin.readline()
    Path(marker).touch()  # written while still holding the lock
"""


@pytest.fixture
def holder(folder: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """Another process holding the lock on KEY until a line is written to its stdin."""
    marker = tmp_path / "released"
    proc = python(HOLDER, str(folder), KEY, str(marker), stdin=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None
    try:
        assert proc.stdout.readline() == "locked\n"
        yield proc, marker
    finally:
        if proc.poll() is None:
            proc.stdin.write("go\n")
            proc.stdin.close()
            assert proc.wait(timeout=30) == 0


def test_lock_excludes_another_process(
    store: DiskStore, holder: tuple[subprocess.Popen[str], Path]
) -> None:
    proc, marker = holder
    acquired = threading.Event()
    released_first: list[bool] = []

    def contend() -> None:
        with store.lock(KEY):
            released_first.append(marker.exists())
            acquired.set()

    thread = threading.Thread(target=contend, daemon=True)
    thread.start()
    assert not acquired.wait(0.5), "got the lock while another process held it"
    assert proc.stdin is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert acquired.wait(30)
    thread.join(5)
    # The child finished its critical section before we entered ours.
    assert released_first == [True]


def test_lock_wait_is_bounded(
    folder: Path, holder: tuple[subprocess.Popen[str], Path], caplog: pytest.LogCaptureFixture
) -> None:
    store = DiskStore(folder, lock_timeout=0.2)
    start = time.monotonic()
    with store.lock(KEY):
        waited = time.monotonic() - start
    assert 0.2 <= waited < 10
    assert "going on without it" in caplog.text


@posix_only
def test_a_sigkilled_lock_holder_does_not_block_the_next_one(
    folder: Path, holder: tuple[subprocess.Popen[str], Path], caplog: pytest.LogCaptureFixture
) -> None:
    proc, marker = holder
    proc.kill()  # SIGKILL while holding the lock: no clean-up code runs
    proc.wait(timeout=30)
    with DiskStore(folder, lock_timeout=30).lock(KEY):
        pass  # the kernel dropped its flock with the process
    assert "going on without it" not in caplog.text and not marker.exists()


def test_lock_is_reusable_and_per_key(store: DiskStore) -> None:
    with store.lock(KEY), store.lock("another"):
        pass
    with store.lock(KEY):
        pass


WRITER = """
import sys
from pystac_eds.disk import DiskStore
from pystac_eds.tokens import Token
store = DiskStore(sys.argv[1])
for i in range(500):
    store.save("k", Token(value=f"{i:04d}" * 1000, expires_at=2e9 + i, issued_at=float(i)))
    if i == 0:
        print("ready", flush=True)
"""


RACER = """
import sys
from pystac_eds.disk import DiskStore
from pystac_eds.tokens import Token
store, me, rounds = DiskStore(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torn = 0
for i in range(rounds):
    store.save("k", Token(value=f"{me:02d}{i:04d}" * 500, expires_at=2e9 + me, issued_at=float(i)))
    token = store.load("k", now=1.0)
    # Whoever wrote it, the value must be one writer's whole value for that record.
    whole = token is not None and token.value == token.value[:6] * 500
    if not whole or int(token.value[:2]) != token.expires_at - 2e9:
        torn += 1
print(torn)
"""


def test_many_processes_writing_and_reading_see_no_torn_token(store: DiskStore) -> None:
    racers = [python(RACER, str(store.folder), str(n), "1000") for n in range(16)]
    # The review's race: 16,000 reads, each right after a write, under 16 concurrent
    # writers. A torn read would be a bug, whatever the timing: this can miss one, never
    # invent one.
    torn = [int(proc.communicate(timeout=300)[0]) for proc in racers]
    assert [proc.returncode for proc in racers] == [0] * 16
    assert torn == [0] * 16
    assert names(store.tokens_folder) == sorted(["CACHEDIR.TAG", "k.eds-token.json"])


@posix_only
@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores modes")
def test_read_only_tokens_folder_reads_and_never_raises(store: DiskStore) -> None:
    store.save(KEY, TOKEN)
    store.tokens_folder.chmod(0o500)
    try:
        store.save(KEY, Token("newer-token", NOW + 7200, NOW))  # logged, not raised
        assert store.load(KEY, now=NOW) == TOKEN
        with store.lock("other"):
            pass
    finally:
        store.tokens_folder.chmod(0o700)


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs with 64 inodes, mounted for the test: a disk that can really fill."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not sys.platform.startswith("linux"):
        pytest.skip("mounting a small tmpfs needs root on Linux")
    mount = tmp_path / "small"
    mount.mkdir(mode=0o700)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,nr_inodes=64,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:  # a container without CAP_SYS_ADMIN, say
        pytest.skip(f"could not mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(folder: Path, what: str) -> None:
    """Use up the file system's ``what`` ("space" or "inodes") until ENOSPC."""
    filler = folder / "filler"
    filler.mkdir()
    with pytest.raises(OSError, match="No space left"):
        if what == "space":
            with open(filler / "blob", "wb") as blob:
                while True:
                    blob.write(b"x" * 4096)
                    blob.flush()
        for n in range(100_000):
            (filler / str(n)).touch()


@posix_only
@pytest.mark.parametrize("what", ["space", "inodes"])
def test_a_full_file_system_keeps_the_old_token_and_leaves_nothing_behind(
    small_tmpfs: Path, what: str
) -> None:
    store = DiskStore(small_tmpfs / "cache")
    store.save(KEY, TOKEN)
    fill(small_tmpfs, what)
    newer = Token("newer-token", NOW + 7200, NOW + 10)
    store.save(KEY, newer)  # cannot be written: logged, not raised
    with store.lock(KEY):  # a lock file may not be creatable either: goes on without
        pass
    assert store.load(KEY, now=NOW) == TOKEN  # the old file, whole: not replaced by a torn one
    assert not [n for n in names(store.tokens_folder) if n.endswith(".tmp")]
    # A process whose disk token has run out still gets its token, from memory.
    cache = TokenCache(store=store, clock=lambda: NOW + 7000, fetch=lambda c: newer)
    creds = Credentials(client_id="i", client_secret="s", auth_url="https://a.example/t")
    assert cache.get(creds) == newer and cache.token_requests == 1


def test_concurrent_reader_never_sees_a_partial_file(store: DiskStore) -> None:
    writer = python(WRITER, str(store.folder))
    assert writer.stdout is not None
    assert writer.stdout.readline() == "ready\n"
    seen: set[int] = set()
    loads = 0
    while loads < 500 or writer.poll() is None:
        token = store.load("k", now=1.0)
        # The file always exists once written, and os.replace swaps it whole.
        assert token is not None
        i = int(token.expires_at - 2e9)
        assert token.value == f"{i:04d}" * 1000
        assert token.issued_at == i
        seen.add(i)
        loads += 1
    assert writer.wait(timeout=30) == 0
    assert store.load("k", now=1.0) == Token("0499" * 1000, 2e9 + 499, 499.0)
    assert names(store.tokens_folder) == ["CACHEDIR.TAG", "k.eds-token.json"]
