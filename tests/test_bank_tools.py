"""``tao-automl models / platforms / versions`` against a synthetic bank and the shared TAO bank."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import readme_says, small_schema, write_skill
from tao_automl.cli.main import main

SECRET = "s3cr3t-value-that-must-never-print"


def shared_bank() -> Path | None:
    env = os.environ.get("TAO_TEST_BANK")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "tao-bank"
    return path if (path / "skills" / "models").is_dir() else None


SHARED = shared_bank()
needs_shared = pytest.mark.skipif(SHARED is None, reason="shared TAO bank not found (set TAO_TEST_BANK)")


def synthetic_bank(root: Path) -> Path:
    """One runnable model, three blocked ones, one disabled; a slurm platform with a one-of group."""
    write_skill(root, name="good-net")
    no_schema = write_skill(root, name="no-schema-net")
    (no_schema / "schemas" / "train.schema.json").unlink()
    bad = write_skill(root, name="bad-schema-net")
    (bad / "schemas" / "train.schema.json").write_text("{not json")
    empty = small_schema()
    empty["automl_default_parameters"] = ["train.missing"]
    write_skill(root, name="empty-space-net", schema=empty)
    off = write_skill(root, name="off-net")
    info = yaml.safe_load((off / "references" / "skill_info.yaml").read_text())
    (off / "references" / "skill_info.yaml").write_text(yaml.safe_dump({**info, "automl_enabled": False}))
    plat = root / "platform" / "tao-run-on-slurm" / "references"
    plat.mkdir(parents=True)
    plat.joinpath("skill_info.yaml").write_text(yaml.safe_dump({
        "type": "platform",
        "required_credentials": [{"name": "TT_SLURM_USER", "source": "env_var"}],
        "credential_groups": [{"name": "ssh", "require_one_of": ["TT_SSH_KEY", "TT_SSH_SOCK"]}],
        "optional_credentials": [{"name": "TT_HF_TOKEN", "source": "env_var", "only_when": "gated models"}],
    }))
    (root / "platform" / "tao-run-on-docker" / "references").mkdir(parents=True)
    (root / "platform" / "tao-run-on-docker" / "references" / "skill_info.yaml").write_text(
        "type: platform\nrequired_credentials: []\n")
    (root / "versions.yaml").write_text(yaml.safe_dump({"images": {"tao_toolkit": {"pyt": "img:pyt"}},
                                                        "wheels": {"tao_automl_slurm": "pkg[slurm]==1"}}))
    return root


@pytest.fixture
def bank(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("TT_SLURM_USER", "TT_SSH_KEY", "TT_SSH_SOCK", "TT_HF_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    return synthetic_bank(tmp_path / "bank")


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    return err


# -- models ---------------------------------------------------------------------------------------
def test_models_splits_runnable_from_blocked_with_reasons(bank: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "models", "--skill-bank", str(bank), "--format", "json")
    assert [m["model"] for m in data["runnable"]] == ["good-net"]
    params = {p["name"]: p for p in data["runnable"][0]["params"]}
    assert set(params) == set(small_schema()["automl_default_parameters"])
    assert params["train.optim.lr"]["type"] == "float" and "1.0" in params["train.optim.lr"]["range"]
    assert params["train.act"]["range"] == "options ['relu', 'tanh', 'gelu']"
    reasons = {m["model"]: m["reason"] for m in data["blocked"]}
    assert reasons["no-schema-net"] == "no train schema (missing schemas/train.schema.json)"
    assert reasons["bad-schema-net"].startswith("schema invalid: ")
    assert reasons["empty-space-net"].startswith("search space empty/invalid: ")
    assert data["automl_disabled_count"] == 1 and "off-net" not in json.dumps(data)


def test_models_scope_all_and_text(bank: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "models", "--skill-bank", str(bank), "--scope", "all", "--json")
    flags = {m["model"]: m["automl_enabled"] for m in data["all"]}
    assert flags["off-net"] is False and flags["good-net"] is True and len(flags) == 5
    assert main(["models", "--skill-bank", str(bank)]) == 0
    out = capsys.readouterr().out
    assert "runnable AutoML models (1)" in out and "blocked AutoML models (3)" in out
    assert "train.optim.lr" in out and "1 model(s) have automl_enabled: false" in out


def test_models_without_a_bank_shows_the_builtin_models(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("TAO_SKILL_BANK_PATH", raising=False)
    report = _json(capsys, "models", "--json")
    assert "--skill-bank" in report["note"]
    assert [m["skill_dir"] for m in report["runnable"]] == ["builtin:demo-digits-mlp"]
    assert "does not exist" in _error(capsys, "models", "--skill-bank", str(tmp_path / "nope"))


def test_models_uses_the_bank_env_var(bank: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TAO_SKILL_BANK_PATH", str(bank))
    assert _json(capsys, "models", "--format", "json")["bank"] == str(bank)


# -- platforms ------------------------------------------------------------------------------------
def test_platforms_show_presence_never_values(bank: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TT_SLURM_USER", SECRET)
    monkeypatch.setenv("TT_SSH_SOCK", SECRET + "-sock")
    data = _json(capsys, "platforms", "--skill-bank", str(bank), "--platform", "slurm", "--format", "json")
    assert [p["name"] for p in data["platforms"]] == ["tao-run-on-slurm"]
    slurm = data["platforms"][0]
    assert slurm["ready"] is True
    creds = {c["name"]: c["status"] for c in slurm["credentials"]}
    assert creds == {"TT_SLURM_USER": "set", "TT_HF_TOKEN": "missing"}
    assert slurm["credential_groups"][0]["set"] == ["TT_SSH_SOCK"]
    assert [(s["name"], s["implemented"]) for s in data["sdk_registry"]] == [("slurm", True)]  # --platform: its own
    assert main(["platforms", "--skill-bank", str(bank)]) == 0
    text = capsys.readouterr().out
    assert "tao-run-on-docker" in text and "tao-run-on-slurm: ready" in text and "set" in text
    assert SECRET not in text and SECRET not in json.dumps(data)


def test_platforms_report_missing_required_and_groups(bank: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["platforms", "--skill-bank", str(bank), "--platform", "tao-run-on-slurm"]) == 0
    out = capsys.readouterr().out
    assert "missing TT_SLURM_USER, one of TT_SSH_KEY/TT_SSH_SOCK" in out
    assert "tao-run-on-docker" not in out


def test_platforms_unknown_name_and_bank_without_platforms(bank: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert "did you mean 'slurm'" in _error(capsys, "platforms", "--skill-bank", str(bank), "--platform", "slurn")
    bare = tmp_path / "bare"
    write_skill(bare)
    data = _json(capsys, "platforms", "--skill-bank", str(bare), "--format", "json")
    assert data["platforms"] is None and "no platform folder" in data["note"]


# -- versions -------------------------------------------------------------------------------------
def test_versions_text_json_and_unknown_key(bank: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["versions", "images.tao_toolkit.pyt", "--skill-bank", str(bank)]) == 0
    assert capsys.readouterr().out.strip() == "img:pyt"
    data = _json(capsys, "versions", "wheels.tao_automl_slurm", "--skill-bank", str(bank), "--format", "json")
    assert data == {"key": "wheels.tao_automl_slurm", "value": "pkg[slurm]==1"}
    assert "did you mean 'images.tao_toolkit.pyt'" in _error(
        capsys, "versions", "images.tao_tolkit.pyt", "--skill-bank", str(bank))


def test_versions_without_a_key_lists_every_pinned_key(bank: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without a key it was a usage error ('allowed: a value'): nothing showed which keys exist. Each line is a key
    `versions KEY` takes, and its value."""
    assert main(["versions", "--skill-bank", str(bank)]) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["images.tao_toolkit.pyt", "img:pyt"] in lines and ["wheels.tao_automl_slurm", "pkg[slurm]==1"] in lines
    for key, value in lines:
        assert main(["versions", key, "--skill-bank", str(bank)]) == 0
        assert capsys.readouterr().out.strip() == value
    data = _json(capsys, "versions", "--skill-bank", str(bank), "--json")
    assert data["key"] is None and data["value"]["images"]["tao_toolkit"]["pyt"] == "img:pyt"



def test_versions_hint_for_a_key_not_found_repeats_the_skill_bank_given(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The hint said `tao-automl versions --json`, which without $TAO_SKILL_BANK_PATH fails for want of a bank: it
    repeats the --skill-bank given (one shell word, as typed), and the command it names lists the keys."""
    import shlex

    monkeypatch.delenv("TAO_SKILL_BANK_PATH", raising=False)
    bank = synthetic_bank(tmp_path / "my bank")
    monkeypatch.chdir(tmp_path)
    assert main(["versions", "nope", "--skill-bank", "my bank", "--json"]) == 2
    hint = json.loads(capsys.readouterr().out)["error"]["hint"]
    assert hint == "list the keys with `tao-automl versions --skill-bank 'my bank' --json`"
    command = shlex.split(hint.split("`")[1])
    assert command[0] == "tao-automl"
    data = _json(capsys, *command[1:])
    assert data["value"]["images"]["tao_toolkit"]["pyt"] == "img:pyt"
    assert "tao-automl versions --skill-bank " + shlex.quote(str(bank)) + " --json`" in _error(
        capsys, "versions", "nope", "--skill-bank", str(bank))
    monkeypatch.setenv("TAO_SKILL_BANK_PATH", str(bank))  # found through the variable: none to repeat
    assert "(hint: list the keys with `tao-automl versions --json`)" in _error(capsys, "versions", "nope")


# -- the shared TAO bank --------------------------------------------------------------------------
@needs_shared
def test_shared_bank_models_platforms_versions(capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    assert SHARED is not None
    data = _json(capsys, "models", "--skill-bank", str(SHARED), "--format", "json")
    assert data["runnable"], "the shared bank has runnable AutoML models"
    assert all(m["params"] and all({"name", "type", "range"} <= set(p) for p in m["params"])
               for m in data["runnable"])
    for model in data["runnable"] + data["blocked"]:
        info = yaml.safe_load((SHARED / "skills" / "models" / model["model"] / "references" /
                               "skill_info.yaml").read_text())
        assert info["automl_enabled"] is True
    monkeypatch.setenv("SLURM_USER", SECRET)
    plat = _json(capsys, "platforms", "--skill-bank", str(SHARED), "--platform", "slurm", "--format", "json")
    assert [p["name"] for p in plat["platforms"]] == ["tao-run-on-slurm"]
    assert {c["name"]: c["status"] for c in plat["platforms"][0]["credentials"]}["SLURM_USER"] == "set"
    assert plat["platforms"][0]["credential_groups"], "slurm declares a one-of group"
    assert SECRET not in json.dumps(plat)
    versions = yaml.safe_load((SHARED / "versions.yaml").read_text())
    got = _json(capsys, "versions", "images.tao_toolkit.pyt", "--skill-bank", str(SHARED), "--format", "json")
    assert got["value"] == versions["images"]["tao_toolkit"]["pyt"]
    assert main(["versions", "images.nope", "--skill-bank", str(SHARED), "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]  # field, value and allowed were null
    assert (error["field"], error["value"]) == ("KEY", "images.nope") and "images.tao_toolkit.pyt" in error["allowed"]


def test_models_shows_a_number_with_options_as_its_type(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An int with valid_options [8, 16, 32] (searched as a choice among those ints) was listed as 'categorical'."""
    schema = small_schema()
    train = schema["properties"]["train"]["properties"]
    train["layers"] = {"type": "int", "default": 16, "valid_options": [8, 16, 32], "automl_enabled": True}
    train["optim"]["properties"]["lr"] = {"type": "float", "default": 0.01, "valid_options": [0.001, 0.01],
                                          "automl_enabled": True}
    schema["default"]["train"]["layers"] = 16
    write_skill(tmp_path / "bank", name="opt-net", schema=schema)
    data = _json(capsys, "models", "--skill-bank", str(tmp_path / "bank"), "--format", "json")
    params = {p["name"]: p for p in data["runnable"][0]["params"]}
    assert (params["train.layers"]["type"], params["train.layers"]["range"]) == ("int", "options [8, 16, 32]")
    assert (params["train.optim.lr"]["type"], params["train.optim.lr"]["range"]) == ("float", "options [0.001, 0.01]")
    assert params["train.act"]["type"] == "categorical"
    assert main(["models", "--skill-bank", str(tmp_path / "bank")]) == 0
    assert any(line.split()[:2] == ["train.layers", "int"] for line in capsys.readouterr().out.splitlines())


def test_models_shows_a_schema_default_the_searched_range_leaves_out() -> None:
    """weight_decay 0.0 searched on a log scale from a positive floor: the default was shown as none."""
    from tao_automl.bank.inventory import describe_space
    from tao_automl.schema.build import build_search_space

    schema = {"automl_default_parameters": ["train.weight_decay", "train.lr"],
              "default": {"train": {"weight_decay": 0.0, "lr": 0.01}},
              "properties": {"train": {"type": "collection", "properties": {
                  "weight_decay": {"type": "float", "default": 0.0, "minimum": 0.0, "maximum": 0.01, "scale": "log"},
                  "lr": {"type": "float", "default": 0.01, "minimum": 1e-5, "maximum": 1.0, "scale": "log"}}}}}
    params = {p["name"]: p for p in describe_space(build_search_space(schema), schema)}
    assert params["train.weight_decay"]["default"] == 0.0
    assert params["train.weight_decay"]["default_searched"] is False
    assert params["train.lr"]["default"] == 0.01 and "default_searched" not in params["train.lr"]


def test_a_missing_skill_dir_suggests_the_near_folder_or_the_bank_model(bank: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo'd model folder names its near sibling; a bare bank name (skill_dir is a path) names the bank's
    folder of that name when $TAO_SKILL_BANK_PATH is set; otherwise nothing is guessed."""
    from tao_automl.bank.skill import load_skill
    from tao_automl.errors import SkillError

    with pytest.raises(SkillError, match=r"does not exist or is not a directory \(did you mean 'good-net'\?\)"):
        load_skill(bank / "models" / "good-nett")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TAO_SKILL_BANK_PATH", str(bank))
    with pytest.raises(SkillError, match=rf"\$TAO_SKILL_BANK_PATH has a model 'good-net': skill_dir: "
                                         rf"{bank / 'models' / 'good-net'}$"):
        load_skill("good-net")
    monkeypatch.delenv("TAO_SKILL_BANK_PATH")
    # a relative skill_dir is named as the absolute folder looked in (it said 'good-net', not where)
    import re

    looked_in = re.escape(str(tmp_path / "good-net"))
    with pytest.raises(SkillError, match=rf"^skill_dir '{looked_in}' does not exist or is not a directory$"):
        load_skill("good-net")


def test_platforms_and_versions_without_a_bank_say_so(capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """README: `platforms` without a bank lists only the platforms the package runs, saying so; `versions` needs a
    bank and exits 2 naming both ways to give one."""
    monkeypatch.delenv("TAO_SKILL_BANK_PATH", raising=False)
    monkeypatch.delenv("LEPTON_WORKSPACE_ID", raising=False)
    monkeypatch.setenv("LEPTON_WORKSPACE_TOKEN", SECRET)
    assert main(["platforms", "--platform", "lepton"]) == 0
    out = capsys.readouterr().out
    assert "no skill bank given" in out and "slurm" not in out  # --platform: that platform alone
    # what our Lepton SDK itself needs, without a bank to list it (presence only, never a value)
    assert "lepton reads LEPTON_WORKSPACE_ID (missing), LEPTON_WORKSPACE_TOKEN (set)" in out and SECRET not in out
    err = _error(capsys, "versions", "images.tao_toolkit.pyt")
    assert "--skill-bank" in err and "TAO_SKILL_BANK_PATH" in err


@needs_shared
def test_platforms_says_which_slurm_credentials_a_remote_slurm_needs_and_that_a_local_one_needs_none(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`platforms --platform slurm` headed the bank's Slurm skill "missing SLURM_USER, SLURM_HOSTNAME, SLURM_PARTITION,
    one of SSH_KEY_PATH/SSH_AUTH_SOCK" and listed them `required` (JSON: `ready` false), while its note said Slurm on
    this machine needs none of them, as preflight treats them. Both views now say the same: ready for Slurm on this
    machine, and what a remote (SSH) one requires (JSON `required_for: remote`, `modes`); with $SLURM_HOSTNAME set
    the Slurm is remote and they are missing."""
    readme_says(r"for Slurm, what Slurm on this machine needs \(none\) and what a remote \(SSH\) one requires "
                r"\(`required \(remote\)`; JSON `required_for`, `modes`, and `mode`: remote when "
                r"`\$SLURM_HOSTNAME` is set\)")
    for var in ("SLURM_USER", "SLURM_HOSTNAME", "SLURM_PARTITION", "SSH_KEY_PATH", "SSH_AUTH_SOCK"):
        monkeypatch.delenv(var, raising=False)
    remote_needs = ["SLURM_USER", "SLURM_HOSTNAME", "SLURM_PARTITION", "one of SSH_KEY_PATH/SSH_AUTH_SOCK"]
    assert main(["platforms", "--skill-bank", str(SHARED), "--platform", "slurm", "--json"]) == 0
    [skill] = json.loads(capsys.readouterr().out)["platforms"]
    assert skill["name"] == "tao-run-on-slurm" and skill["mode"] == "local"
    assert (skill["ready"], skill["missing"]) == (True, [])
    assert skill["modes"] == {"local": {"ready": True, "missing": []},
                              "remote": {"ready": False, "missing": remote_needs}}
    required = {c["name"]: c.get("required_for") for c in skill["credentials"] if c["required"]}
    assert required == {"SLURM_USER": "remote", "SLURM_HOSTNAME": "remote", "SLURM_PARTITION": "remote"}
    assert [g.get("required_for") for g in skill["credential_groups"]] == ["remote"]
    assert "Slurm run on this machine" in skill["note"] and "needs none of them" in skill["note"]
    assert main(["platforms", "--skill-bank", str(SHARED), "--platform", "slurm"]) == 0
    text = capsys.readouterr().out
    assert ("tao-run-on-slurm: ready for Slurm on this machine; a remote (SSH) Slurm: missing SLURM_USER, "
            "SLURM_HOSTNAME, SLURM_PARTITION, one of SSH_KEY_PATH/SSH_AUTH_SOCK") in text
    rows = {line.split()[0]: line.split(None, 1)[1] for line in text.splitlines() if line.startswith("  SLURM_")}
    assert rows["SLURM_USER"].startswith("required (remote)") and rows["SLURM_ACCOUNT"].startswith("optional")
    assert all(kind.startswith(("required (remote)", "optional")) for kind in rows.values()), rows
    assert "group ssh_identity (remote)" in text
    # a remote Slurm ($SLURM_HOSTNAME set): the bank's required credentials are what it misses
    monkeypatch.setenv("SLURM_HOSTNAME", "login.example")
    assert main(["platforms", "--skill-bank", str(SHARED), "--platform", "slurm", "--json"]) == 0
    [skill] = json.loads(capsys.readouterr().out)["platforms"]
    assert (skill["mode"], skill["ready"], skill["missing"]) == ("remote", False, [m for m in remote_needs
                                                                                  if m != "SLURM_HOSTNAME"])
    assert main(["platforms", "--skill-bank", str(SHARED), "--platform", "slurm"]) == 0
    assert ("tao-run-on-slurm: a remote (SSH) Slurm ($SLURM_HOSTNAME set): missing SLURM_USER, SLURM_PARTITION, "
            "one of SSH_KEY_PATH/SSH_AUTH_SOCK") in capsys.readouterr().out


def test_platforms_without_a_bank_says_slurm_on_this_machine_needs_no_credentials(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a bank `--platform local` said it needs no credentials, `--platform slurm` said nothing of them."""
    monkeypatch.delenv("TAO_SKILL_BANK_PATH", raising=False)
    assert main(["platforms", "--platform", "slurm", "--json"]) == 0
    note = json.loads(capsys.readouterr().out)["note"]
    assert "Slurm run on this machine needs no credentials" in note and "remote (SSH)" in note


def test_models_gives_a_skill_dir_a_config_anywhere_can_use(bank: Path, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """`models --skill-bank shared/tao-bank` printed a skill_dir relative to the current folder, which a config
    (whose skill_dir is read relative to the config file) elsewhere could not find."""
    monkeypatch.chdir(bank.parent)
    report = _json(capsys, "models", "--skill-bank", bank.name, "--json")
    dirs = [m["skill_dir"] for m in report["runnable"]]
    assert dirs and all(Path(d).is_absolute() and Path(d).is_dir() for d in dirs)
    # a bank named with `..` (as the README's `--skill-bank ../shared/tao-bank`) gave `/repo/../shared/...`
    (bank.parent / "here").mkdir()
    monkeypatch.chdir(bank.parent / "here")
    report = _json(capsys, "models", "--skill-bank", f"../{bank.name}", "--json")
    dirs = [m["skill_dir"] for m in report["runnable"]]
    assert dirs and all(".." not in Path(d).parts and Path(d).is_dir() for d in dirs)


def test_platforms_says_whether_an_sdks_extra_is_installed_not_whether_its_module_imports(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`platforms` showed `lepton ... implemented: no` in an install without the lepton extra (its module failed to
    import) and `docker ... yes` without the docker extra (its imports are lazy). Every adapter is implemented; the
    column says whether the platform's extra is installed, and how to install it."""
    from importlib import metadata

    real = metadata.requires
    monkeypatch.setattr(metadata, "requires", lambda dist: [*(real(dist) or []),
                                                            'surely-absent-dist>=1; extra == "docker"'])
    assert main(["platforms"]) == 0
    text = capsys.readouterr().out
    assert "implemented" not in text
    docker = next(line for line in text.splitlines() if line.startswith("docker "))
    assert docker.endswith("no (surely-absent-dist): pip install 'tao-run-automl[docker]'"), docker
    local = next(line for line in text.splitlines() if line.startswith("local "))
    assert local.endswith("yes"), local
    assert main(["platforms", "--format", "json"]) == 0
    registry = {s["name"]: s for s in json.loads(capsys.readouterr().out)["sdk_registry"]}
    assert registry["docker"]["extra_installed"] is False and registry["docker"]["implemented"] is True
    assert registry["docker"]["extra_missing"] == ["surely-absent-dist"] and "extra_missing" not in registry["local"]
    # installed, but older than the extra requires: docker 6 passed as installed, and preflight failed obscurely
    from tao_automl.bank.credentials import missing_packages

    monkeypatch.setattr(metadata, "requires", lambda dist: ['docker>=7.0; extra == "docker"'])
    monkeypatch.setattr(metadata, "version", lambda dist: "6.1.3")
    assert missing_packages("docker") == ["docker>=7.0 (6.1.3 installed)"]
    monkeypatch.setattr(metadata, "version", lambda dist: "7.1.0")
    assert missing_packages("docker") == [] and missing_packages("slurm") == []


@pytest.mark.parametrize("name", ["tao-run-on-slurm", "tao-run-on-docker"])
def test_platforms_says_a_platform_skill_that_cannot_be_read_is_not_ready_rather_than_missing_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    """A platform skill whose skill_info.yaml cannot be parsed was headed `missing ` with no name after it (Slurm:
    `Slurm on this machine: missing ; a remote (SSH) Slurm: missing `): it now says why it is not ready."""
    skill = tmp_path / "bank" / "platforms" / name / "references"
    skill.mkdir(parents=True)
    (skill / "skill_info.yaml").write_text(": : [\n")
    assert main(["platforms", "--skill-bank", str(tmp_path / "bank")]) == 0
    out = capsys.readouterr().out
    head = next(line for line in out.splitlines() if line.startswith(f"{name}:"))
    assert head == f"{name}: not ready: its skill_info.yaml cannot be read (error below)", out
    assert "ParserError" in out
