"""vrrp.keepalived_conf: a corpus of keepalived.conf files, the grammar, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from vrrp.config import load_config
from vrrp.keepalived_conf import import_file, import_files, import_text, main
from vrrp.keepalived_conf_read import ConfSyntaxError

CORPUS = Path(__file__).with_name("keepalived_corpus")
ENGINE = Path(__file__).resolve().parents[5] / "plugins" / "module_utils"
CASES = sorted((sample.parent.name, sample.name) for sample in CORPUS.glob("*/expected*.yml"))


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, list[str]]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


@pytest.mark.parametrize(("sample", "expected_file"), CASES)
def test_corpus(sample: str, expected_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    folder = CORPUS / sample
    expected: dict[str, Any] = yaml.safe_load((folder / expected_file).read_text())
    argv = [str(folder / "keepalived.conf")]
    if expected["host"] is not None:
        argv += ["--host", expected["host"]]
    code, out, err = run(argv, capsys)
    assert code == expected["exit"], err
    config = yaml.safe_load(out)
    load_config(config)  # the runner's loader accepts the output as it is
    got = {inst["name"]: inst for inst in config["instances"]}
    assert list(got) == list(expected["instances"])
    for name, keys in expected["instances"].items():
        assert {key: got[name].get(key) for key in keys} == keys, name
    assert {g["name"]: g for g in config["sync_groups"]} == expected["sync_groups"]
    settings = {k: v for k, v in config.items() if k not in ("instances", "sync_groups")}
    assert settings == expected.get("settings", {})
    named = [line.split(": ")[0] + ": " + line.split(": ")[1] for line in err]
    assert [os.path.relpath(n.split(":")[0], folder) + ":" + n.split(":", 1)[1] for n in named] == (
        expected["not_converted"]
    )


def test_cli_output_passes_runner_check(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ENGINE))
    sample = CORPUS / "sync_groups" / "keepalived.conf"
    for fmt, name in (([], "out.yml"), (["--json"], "out.json")):
        out = subprocess.run(
            [sys.executable, "-m", "vrrp.keepalived_conf", str(sample), *fmt],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        (tmp_path / name).write_text(out.stdout)
        if fmt:
            json.loads(out.stdout)
        check = subprocess.run(
            [sys.executable, "-m", "vrrp.runner", "--config", str(tmp_path / name), "--check"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stderr


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("vrrp_instance A {\n interface eth0\n", 1, "not closed"),
        ("}\n", 1, "without an open block"),
        ("{\n}\n", 1, "without a keyword"),
        ('vrrp_instance A {\n interface "eth0\n}\n', 2, "unmatched quote"),
        ("$A=$A$A\nx $A\n", 2, "too long"),
        ("a\0b\n", 1, "NUL"),
    ],
)
def test_unusable_input_is_named(text: str, line: int, words: str) -> None:
    with pytest.raises(ConfSyntaxError) as caught:
        import_text(text, name="k.conf")
    assert caught.value.line == line and words in str(caught.value)
    assert str(caught.value).startswith(f"k.conf:{line}: ")


def test_cli_exit_1_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "k.conf"
    conf.write_text("global_defs {\n}\n}\n")
    code, out, err = run([str(conf)], capsys)
    assert (code, out) == (1, "")
    assert err == [f"{conf}:3: '}}' without an open block"]
    code, _out, err = run([str(tmp_path / "absent.conf")], capsys)
    assert code == 1 and err[0].startswith(f"{tmp_path / 'absent.conf'}:0: cannot read")


def test_include_loop_and_depth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.conf").write_text("include b.conf\n")
    (tmp_path / "b.conf").write_text("include a.conf\n")
    code, _out, err = run([str(tmp_path / "a.conf")], capsys)
    assert code == 1
    assert err == [
        f"{tmp_path / 'b.conf'}:1: {tmp_path / 'a.conf'}: included again while it is being "
        "read (an include loop)"
    ]


def test_comments_quotes_and_braces() -> None:
    text = (
        "vrrp_instance VI{interface eth0 # comment\n"
        "virtual_router_id 9 ! another\n"
        "virtual_ipaddress { 192.0.2.9/24 } notify_master \"/bin/echo a#b 'c d'\"\n"
        "}\n"
    )
    result = import_text(text)
    (inst,) = result.config["instances"]
    assert (inst["name"], inst["vrid"], inst["virtual_addresses"]) == ("VI", 9, ["192.0.2.9/24"])
    assert inst["notify"]["master"] == ["/bin/echo", "a#b", "c d"]
    assert result.complete


def test_defaults_are_keepalived_s() -> None:
    base = (
        "vrrp_instance X {\n interface eth0\n virtual_router_id 1\n %s\n"
        " virtual_ipaddress {\n %s\n }\n}\n"
    )
    v2 = import_text(base % ("", "192.0.2.1")).config["instances"][0]
    assert (v2["version"], v2["priority"], v2["advert_interval"], v2["preempt"]) == (
        2,
        100,
        1,
        True,
    )
    assert v2["garp"] == {"delay": 5, "repeat": 5, "refresh": 0, "refresh_repeat": 1, "interval": 0}
    assert "checksum_form" not in v2
    owner = import_text(base % ("state MASTER", "192.0.2.1")).config["instances"][0]
    assert owner["priority"] == 255  # vrrp_complete_instance: MASTER without priority
    v3 = import_text("global_defs {\n vrrp_version 3\n}\n" + base % ("", "192.0.2.1"))
    assert v3.config["instances"][0]["checksum_form"] == "pseudo_header"
    v6 = import_text(base % ("", "fe80::1/64")).config["instances"][0]
    assert v6["version"] == 3 and "checksum_form" not in v6
    strict = "global_defs {\n vrrp_strict\n}\n"
    v2_strict = import_text(strict + base % ("accept", "192.0.2.1")).config["instances"][0]
    assert v2_strict["accept"] is False  # keepalived resets accept for v2 under vrrp_strict
    v6_strict = import_text(strict + base % ("version 2", "fe80::1/64")).config["instances"][0]
    assert v6_strict["version"] == 3


def test_filter_plugin(tmp_path: Path) -> None:
    # In a child: importing ansible's filter machinery here would change how
    # the module tests of this session see warnings.
    pytest.importorskip("ansible")
    (tmp_path / "ansible_collections" / "failover").mkdir(parents=True)
    (tmp_path / "ansible_collections" / "failover" / "vrrp").symlink_to(ENGINE.parents[1])
    code = (
        "import json, sys\n"
        "from ansible_collections.failover.vrrp.plugins.filter import from_keepalived\n"
        "convert = from_keepalived.FilterModule().filters()['from_keepalived']\n"
        "print(json.dumps(convert(sys.stdin.read())))\n"
    )
    text = (CORPUS / "includes" / "conf.d" / "20-db.conf").read_text() + "include x.conf\n"
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=text,
        env=dict(os.environ, PYTHONPATH=str(tmp_path)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["config"]["instances"][0]["name"] == "DB"
    assert result["not_converted"] == [
        {
            "file": "keepalived.conf",
            "line": 6,
            "keyword": "include",
            "why": "'x.conf' cannot be followed from text",
            "vrrp": True,
        }
    ]
    assert result["complete"] is False
    # With the host's files, the includes are followed among them.
    folder = CORPUS / "includes"
    code_files = code.replace(
        "convert(sys.stdin.read())",
        "convert(sys.stdin.read(), path=sys.argv[1], files=json.loads(sys.argv[2]))",
    )
    files = {str(p): p.read_text() for p in folder.rglob("*") if p.is_file()}
    out = subprocess.run(
        [sys.executable, "-c", code_files, str(folder / "keepalived.conf"), json.dumps(files)],
        input=(folder / "keepalived.conf").read_text(),
        env=dict(os.environ, PYTHONPATH=str(tmp_path)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert [i["name"] for i in result["config"]["instances"]] == [
        "WEB",
        "DUMMY_BRACE_BALANCE",
        "DB",
    ]
    assert [(n["file"], n["line"]) for n in result["not_converted"]] == [
        (str(folder / "keepalived.conf"), 6)
    ]


@pytest.mark.parametrize(
    ("version", "written", "used"),
    [
        (2, "1.4", 1),
        (2, "1.495", 1),  # rounded once, from microseconds, as keepalived does
        (2, "1.5", 2),
        (2, "0.2", 1),
        (3, "0.005", 0.01),
        (3, "1.235", 1.24),
        (3, "41", 40.95),
    ],
)
def test_advert_interval_rounded_as_keepalived(version: int, written: str, used: float) -> None:
    text = (
        f"vrrp_instance X {{\n interface eth0\n virtual_router_id 1\n version {version}\n"
        f" advert_int {written}\n virtual_ipaddress {{\n 192.0.2.1\n }}\n}}\n"
    )
    result = import_text(text)
    assert result.config["instances"][0]["advert_interval"] == used
    load_config(result.config)


def test_whole_config_clash_leaves_out_one_instance_and_says_so() -> None:
    instance = (
        "vrrp_instance {name} {{\n interface eth0\n virtual_router_id 7\n"
        " virtual_ipaddress {{\n {vip}\n }}\n}}\n"
    )
    text = (
        instance.format(name="A", vip="192.0.2.1")
        + instance.format(name="B", vip="192.0.2.2")  # line 8: the same VRID on eth0
        + "vrrp_sync_group G {\n group {\n B\n }\n}\n"
    )
    result = import_text(text, name="k.conf")
    load_config(result.config)
    assert [i["name"] for i in result.config["instances"]] == ["A"]
    assert result.config["sync_groups"] == []
    assert [(n.line, n.keyword) for n in result.not_converted] == [
        (8, "vrrp_instance"),
        (15, "vrrp_sync_group"),
        (17, "group"),
    ]
    assert "VRID 7 is already used on eth0" in result.not_converted[0].why


def test_parameters_as_keepalived_expands_them() -> None:
    text = (
        "$VIPS=virtual_ipaddress { \\\n"
        "  192.0.2.1 ! first\n"
        "$IF=eth${N}\n"
        "$N=0\n"
        "vrrp_instance ${_INSTANCE}_vi {\n"
        " interface $IF\n"
        " virtual_router_id 3\n"
        " $VIPS\n"
        "  192.0.2.2\n"
        " }\n"
        "@lb2 $N=1\n"
        "}\n"
    )
    result = import_text(text, host="lb1")
    (inst,) = result.config["instances"]
    assert (inst["name"], inst["interface"]) == ("lb1_vi", "eth0")
    assert inst["virtual_addresses"] == ["192.0.2.1", "192.0.2.2"]
    assert result.complete


def test_parameter_bomb_is_refused() -> None:
    text = "$A=x\\\nx\n" + "".join(
        f"$B{i}=$B{i - 1} $B{i - 1}\\\n$B{i - 1}\n" if i else "$B0=$A $A\n" for i in range(12)
    )
    with pytest.raises(ConfSyntaxError) as caught:
        import_text(text + "$B11\n", name="k.conf")
    assert "too" in caught.value.rule


def test_special_files_are_refused_not_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.mkfifo(tmp_path / "pipe.inc")  # open() would block on it forever
    (tmp_path / "main.conf").write_text("! main\ninclude *.inc\n")
    code, _out, err = run([str(tmp_path / "main.conf")], capsys)
    assert code == 1
    assert err == [f"{tmp_path / 'main.conf'}:2: {tmp_path / 'pipe.inc'}: not a regular file"]


def test_include_glob_matches_are_bounded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for index in range(300):
        (tmp_path / f"{index:03}.inc").write_text("")
    (tmp_path / "main.conf").write_text("include *.inc\n")
    code, _out, err = run([str(tmp_path / "main.conf")], capsys)
    assert code == 1 and "more than 256 files" in err[0]


def test_many_clashes_cost_one_pass() -> None:
    instance = (
        "vrrp_instance VI_{i} {{\n interface eth0\n virtual_router_id 1\n use_vmac vmac{j}\n"
        " virtual_ipaddress {{\n 192.0.2.1/24\n }}\n}}\n"
    )
    text = "".join(instance.format(i=i, j=i % 2) for i in range(800))
    text += "".join(f"vrrp_sync_group G{i} {{\n group {{\n VI_0\n }}\n}}\n" for i in range(800))
    started = time.monotonic()
    result = import_text(text)
    # Generous: a whole-config check per clash took minutes here (quadratic).
    assert time.monotonic() - started < 60
    assert [i["name"] for i in result.config["instances"]] == ["VI_0"]
    assert [g["name"] for g in result.config["sync_groups"]] == ["G0"]
    assert len(result.not_converted) == 799 * 3


def test_long_multi_line_parameter_is_read_line_by_line() -> None:
    vips = "".join(f"198.51.100.{i}/24 \\\n" for i in range(1, 255))
    text = (
        "$VIPS=virtual_ipaddress { \\\n" + vips + "}\n"
        "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n $VIPS\n}\n"
    )
    result = import_text(text)
    assert len(result.config["instances"][0]["virtual_addresses"]) == 254


def test_files_read_from_a_host_convert_as_the_files_on_disk() -> None:
    """The migration playbook reads a host's files into a mapping (path → text) and
    converts them on the controller: includes (globs, relative, a missing one)
    resolve among those files exactly as among the files on disk."""
    folder = CORPUS / "includes"
    files = {str(p): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}
    main_path = str(folder / "keepalived.conf")
    on_disk = import_file(main_path)
    mapped = import_files(main_path, files)
    assert mapped.config == on_disk.config
    assert mapped.not_converted == on_disk.not_converted
    assert mapped.config["instances"]  # the included instances are there
    # A file the mapping does not hold is named, like a file that cannot be read.
    with pytest.raises(ConfSyntaxError, match=r"keepalived\.conf:0: cannot read"):
        import_files("/etc/keepalived/keepalived.conf", {})
    # A glob's '*' does not cross '/': conf.d/*.conf does not take conf.d/x/y.conf.
    deeper = dict(files)
    deeper[str(folder / "conf.d" / "x" / "30-extra.conf")] = "vrrp_instance EXTRA {\n}\n"
    assert import_files(main_path, deeper).config == on_disk.config
