"""Secrets kept in Git with SOPS: encrypted with the real `sops` and real age keys, decrypted by
the render the agent uses, the MAC checked, and a file for a key the agent lacks named with
its recipient. Nothing decrypted is left on disk."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitmoor.errors import RenderError
from gitmoor.render import Keys, RenderOptions, render, sops
from gitmoor.render.sops import _recipients
from testenv.sops import age_key, encrypt, encrypt_pgp, pgp_key

SENTINEL = "SENTINEL-SOPS-PASSWORD"
SECRET = f"""apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: app
stringData:
  password: {SENTINEL}
"""
ONLY_DATA = "^(data|stringData)$"


def options(keys: Keys | None) -> RenderOptions:
    return RenderOptions(release_name="app", namespace="app", decryption=keys)


def leftovers() -> set[str]:
    shm = Path("/dev/shm")
    return {p.name for p in shm.iterdir()} if shm.is_dir() else set()


async def test_a_sops_encrypted_secret_renders_decrypted(tree) -> None:
    key = age_key()
    encrypted = encrypt(SECRET, "secret.yaml", key.recipient, only=ONLY_DATA)
    assert SENTINEL not in encrypted
    root = tree({"app/secret.yaml": encrypted})

    rendered = await render(root, "app", options(Keys(age=(key.identity,))))

    (secret,) = [m.obj for m in rendered.manifests]
    assert secret["stringData"] == {"password": SENTINEL}
    assert "sops" not in secret


async def test_without_keys_an_encrypted_file_is_an_error_naming_it(tree) -> None:
    key = age_key()
    root = tree({"app/secret.yaml": encrypt(SECRET, "secret.yaml", key.recipient)})

    with pytest.raises(RenderError) as caught:
        await render(root, "app", options(None))

    assert caught.value.file == "secret.yaml"
    assert "spec.decryption" in str(caught.value)


async def test_a_file_for_another_key_names_its_recipient_and_no_value(tree) -> None:
    theirs, ours = age_key(), age_key()
    root = tree({"app/secret.yaml": encrypt(SECRET, "secret.yaml", theirs.recipient)})

    with pytest.raises(RenderError) as caught:
        await render(root, "app", options(Keys(age=(ours.identity,))))

    text = str(caught.value)
    assert caught.value.file == "secret.yaml"
    assert theirs.recipient in text
    assert SENTINEL not in text
    assert ours.identity not in text


async def test_a_tampered_file_fails_its_mac(tree) -> None:
    key = age_key()
    encrypted = encrypt(SECRET, "secret.yaml", key.recipient, only=ONLY_DATA)
    # Someone edits the metadata of the encrypted file (the MAC covers every value).
    tampered = encrypted.replace("name: db", "name: stolen")
    root = tree({"app/secret.yaml": tampered})

    with pytest.raises(RenderError, match="MAC"):
        await render(root, "app", options(Keys(age=(key.identity,))))


async def test_a_kustomization_reads_its_secret_generator_files_decrypted(tree) -> None:
    key = age_key()
    env = encrypt(f"password={SENTINEL}\nuser=app\n", "db.env", key.recipient)
    assert SENTINEL not in env
    root = tree(
        {
            "app/kustomization.yaml": """
            namespace: app
            secretGenerator:
              - name: db
                envs: [db.env]
            generatorOptions:
              disableNameSuffixHash: true
            """,
            "app/db.env": env,
        }
    )
    before = leftovers()

    rendered = await render(root, "app", options(Keys(age=(key.identity,))))

    (secret,) = [m.obj for m in rendered.manifests]
    assert base64.b64decode(secret["data"]["password"]).decode() == SENTINEL
    assert leftovers() == before  # the decrypted copy is gone
    assert SENTINEL not in (root / "app" / "db.env").read_text()


def test_keys_come_from_the_secret_by_suffix_and_never_print() -> None:
    key = age_key()

    keys = Keys.from_secret({"team.agekey": key.identity.encode(), "other": b"x"})

    assert keys.age == (key.identity,)
    assert key.identity not in repr(keys)
    with pytest.raises(ValueError, match="holds no key"):
        Keys.from_secret({"password": b"x"})


def test_gitmoor_render_decrypts_with_your_keys_and_masks_unless_asked(tmp_path: Path) -> None:
    key = age_key()
    work = tmp_path / "work"
    (work / ".git").mkdir(parents=True)
    (work / "app").mkdir()
    (work / "app" / "secret.yaml").write_text(
        encrypt(SECRET, "secret.yaml", key.recipient, only=ONLY_DATA)
    )
    gitmoor = [sys.executable, "-m", "gitmoor", "render", str(work / "app")]
    env = {**os.environ, "SOPS_AGE_KEY": key.identity}

    refused = subprocess.run(gitmoor, capture_output=True, text=True, env=env, check=False)
    masked = subprocess.run(
        [*gitmoor, "--decrypt"], capture_output=True, text=True, env=env, check=False
    )
    shown = subprocess.run(
        [*gitmoor, "--decrypt", "--show-secrets"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )

    assert refused.returncode != 0
    assert "--decrypt" in refused.stderr
    assert masked.returncode == 0, masked.stderr
    assert yaml.safe_load(masked.stdout)["stringData"] == {"password": "<masked>"}
    assert SENTINEL not in masked.stdout + masked.stderr
    assert yaml.safe_load(shown.stdout)["stringData"] == {"password": SENTINEL}


async def test_an_openpgp_encrypted_file_decrypts_with_the_armored_secret_key(
    tree, tmp_path: Path
) -> None:
    key = pgp_key(tmp_path / "gnupg")
    root = tree({"app/secret.yaml": encrypt_pgp(SECRET, "secret.yaml", key)})
    before = leftovers()

    rendered = await render(root, "app", options(Keys(pgp=(key.secret,))))

    (secret,) = [m.obj for m in rendered.manifests]
    assert secret["stringData"] == {"password": SENTINEL}
    assert leftovers() == before  # the private keyring went with the render


GENERATED = """
namespace: app
secretGenerator:
  - name: db
    envs: [db.env]
generatorOptions:
  disableNameSuffixHash: true
"""


GENERATOR = """
namespace: app
secretGenerator:
  - name: db
    {field}: [{name}]
generatorOptions:
  disableNameSuffixHash: true
"""


def scratch_dirs() -> set[str]:
    temp = Path(tempfile.gettempdir())
    prefixes = ("gitmoor-sops-", "gitmoor-gnupg-")
    return {p.name for p in temp.iterdir() if p.name.startswith(prefixes)}


@pytest.fixture
def no_shm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without a writable /dev/shm (a read-only one behaves the same)."""
    monkeypatch.setattr(sops, "_MEMORY", tmp_path / "no-shm")
    sops._warn_disk.cache_clear()


@pytest.mark.usefixtures("no_shm")
async def test_without_dev_shm_the_agent_refuses_to_write_decrypted_files_to_disk(
    tree, tmp_path: Path
) -> None:
    key = age_key()
    root = tree(
        {
            "app/kustomization.yaml": GENERATED,
            "app/db.env": encrypt(f"password={SENTINEL}\n", "db.env", key.recipient),
            "plain/secret.yaml": encrypt(SECRET, "secret.yaml", key.recipient, only=ONLY_DATA),
        }
    )
    before = scratch_dirs()
    with pytest.raises(RenderError, match="no writable memory-backed /dev/shm"):
        await render(root, "app", options(Keys(age=(key.identity,))))
    pgp = pgp_key(tmp_path / "gnupg")
    with (
        pytest.raises(RenderError, match=r"OpenPGP secret keys .* never written to disk"),
        sops.Decryptor(Keys(pgp=(pgp.secret,))),
    ):
        pass  # the keyring is made on entering
    assert scratch_dirs() == before
    # A whole document needs no file: the age key goes through sops's environment.
    rendered = await render(root, "plain", options(Keys(age=(key.identity,))))
    assert [m.obj["stringData"] for m in rendered.manifests] == [{"password": SENTINEL}]


@pytest.mark.usefixtures("no_shm")
async def test_without_dev_shm_render_decrypt_uses_the_disk_and_warns_once(
    tree, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    key = age_key()
    monkeypatch.setenv("SOPS_AGE_KEY", key.identity)  # your own keys: `gitmoor render --decrypt`
    root = tree(
        {
            "app/kustomization.yaml": GENERATED,
            "app/db.env": encrypt(f"password={SENTINEL}\n", "db.env", key.recipient),
        }
    )
    before = scratch_dirs()
    with caplog.at_level(logging.WARNING, logger="gitmoor.render.sops"):
        for _ in range(2):
            rendered = await render(root, "app", options(Keys(inherit=True)))
            (secret,) = [m.obj for m in rendered.manifests]
            assert base64.b64decode(secret["data"]["password"]).decode() == SENTINEL
    warnings = [r.getMessage() for r in caplog.records if r.name == "gitmoor.render.sops"]
    assert len(warnings) == 1, warnings
    assert "no writable /dev/shm" in warnings[0]
    assert SENTINEL not in warnings[0]
    assert scratch_dirs() == before  # the copies were removed after each build


async def test_a_secret_generator_env_file_for_another_key_names_its_recipient(tree) -> None:
    theirs, ours = age_key(), age_key()
    root = tree(
        {
            "app/kustomization.yaml": GENERATOR.format(field="envs", name="db.env"),
            "app/db.env": encrypt(f"password={SENTINEL}\n", "db.env", theirs.recipient),
        }
    )

    with pytest.raises(RenderError) as caught:
        await render(root, "app", options(Keys(age=(ours.identity,))))

    text = str(caught.value)
    assert caught.value.file == "db.env"
    assert f"age {theirs.recipient}" in text
    assert SENTINEL not in text
    assert ours.identity not in text


@pytest.mark.parametrize(
    ("name", "content", "read"),
    [
        ("config.json", f'{{"password": "{SENTINEL}", "port": 5432}}', json.loads),
        ("config.yaml", f"password: {SENTINEL}\nport: 5432\n", yaml.safe_load),
    ],
)
async def test_a_secret_generator_reads_json_and_yaml_files_decrypted(
    tree, name: str, content: str, read: Callable[[str], Any]
) -> None:
    key = age_key()
    secret_file = encrypt(content, name, key.recipient)
    assert SENTINEL not in secret_file
    root = tree(
        {
            "app/kustomization.yaml": GENERATOR.format(field="files", name=name),
            f"app/{name}": secret_file,
        }
    )

    rendered = await render(root, "app", options(Keys(age=(key.identity,))))

    (secret,) = [m.obj for m in rendered.manifests]
    assert read(base64.b64decode(secret["data"][name]).decode()) == read(content)


@pytest.mark.parametrize(
    ("kind", "data", "expected"),
    [
        (
            "dotenv",
            b"a=ENC[x]\nsops_age__list_1__map_recipient=age1two\n"
            b"sops_age__list_0__map_enc=-----BEGIN\nsops_age__list_0__map_recipient=age1one\n"
            b"sops_pgp__list_0__map_fp=ABCD\r\nsops_pgp__list_0__map_created_at=2026\n",
            ["age age1one", "age age1two", "PGP ABCD"],
        ),
        ("dotenv", b"password=ENC[x]\nsops_mac=ENC[y]\n", []),
        ("json", b'{"a": "ENC[x]", "sops": {"age": [{"recipient": "age1j"}]}}', ["age age1j"]),
        ("yaml", b"a: ENC[x]\nsops:\n  pgp:\n    - fp: EF01\n", ["PGP EF01"]),
        ("yaml", b"a: [unclosed\n", []),
    ],
)
def test_the_recipients_of_a_sops_file_in_each_format(
    kind: str, data: bytes, expected: list[str]
) -> None:
    assert _recipients(data, kind) == expected


async def test_read_as_written_an_encrypted_secret_keeps_its_enc_values_and_drops_sops(
    tree,
) -> None:
    key = age_key()
    root = tree({"app/secret.yaml": encrypt(SECRET, "secret.yaml", key.recipient, only=ONLY_DATA)})
    options = RenderOptions(release_name="app", namespace="app", sops_as_written=True)

    rendered = await render(root, "app", options)

    (secret,) = [m.obj for m in rendered.manifests]
    assert "sops" not in secret
    assert secret["metadata"]["name"] == "db"
    assert secret["stringData"]["password"].startswith("ENC[AES256_GCM,data:")
