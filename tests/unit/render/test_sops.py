"""Secrets kept in Git with SOPS: encrypted with the real `sops` and real age keys, decrypted by
the render the agent uses, the MAC checked, and a file for a key the agent lacks named with
its recipient. Nothing decrypted is left on disk."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from gitmoor.errors import RenderError
from gitmoor.render import Keys, RenderOptions, render
from testenv.sops import age_key, encrypt

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
