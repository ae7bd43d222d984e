"""load_notifiers: the ordered notifier list from irflow.toml or IRFLOW_NOTIFIERS."""

from __future__ import annotations

from pathlib import Path

import pytest

from irflow.errors import InvalidInput
from irflow.notifiers import MailNotifier, MemoryNotifier, WebhookNotifier, load_notifiers

EXAMPLE = """\
[database]
url = "sqlite:///irflow.db"   # other tables belong to other readers

[[notifiers]]
type = "mail"
host = "127.0.0.1"
port = 1025
sender = "irflow@example.invalid"
starttls = false

[[notifiers]]
type = "webhook"
url = "http://127.0.0.1:8080/hook"
secret_env = "IRFLOW_WEBHOOK_SECRET"   # secrets from the environment, never the file

[[notifiers]]
type = "memory"
"""
ENV = {"IRFLOW_WEBHOOK_SECRET": "sample-secret"}


def write(folder: Path, text: str, name: str = "irflow.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_example_file_gives_notifiers_in_order(tmp_path: Path) -> None:
    """The documented example gives a mail, a webhook and a memory notifier, in file order."""
    mail, webhook, memory = load_notifiers(write(tmp_path, EXAMPLE), env=ENV)

    assert isinstance(mail, MailNotifier)
    assert (mail.name, mail.host, mail.port, mail.sender, mail.starttls) == (
        "mail",
        "127.0.0.1",
        1025,
        "irflow@example.invalid",
        False,
    )
    assert mail.username is None
    assert isinstance(webhook, WebhookNotifier)
    assert (webhook.name, webhook.url, webhook.timeout) == (
        "webhook",
        "http://127.0.0.1:8080/hook",
        10.0,
    )
    assert isinstance(memory, MemoryNotifier)
    assert memory.name == "memory"


def test_secret_comes_from_the_environment(tmp_path: Path) -> None:
    """The webhook secret and the SMTP password are read from the variables the file names."""
    auth = 'starttls = true\nusername = "irflow"\npassword_env = "IRFLOW_SMTP_PASSWORD"'
    path = write(tmp_path, EXAMPLE.replace("starttls = false", auth))
    env = {**ENV, "IRFLOW_SMTP_PASSWORD": "smtp-secret"}
    mail, webhook, _ = load_notifiers(path, env=env)

    assert isinstance(mail, MailNotifier)
    assert isinstance(webhook, WebhookNotifier)
    assert (mail.starttls, mail.username, mail._password) == (True, "irflow", "smtp-secret")
    assert webhook._secret == "sample-secret"
    assert "sample-secret" not in repr(webhook)
    assert "smtp-secret" not in repr(mail)


def test_named_notifiers_of_one_type(tmp_path: Path) -> None:
    """Two notifiers of one type are told apart by their names."""
    path = write(
        tmp_path,
        '[[notifiers]]\ntype = "memory"\nname = "primary"\n'
        '[[notifiers]]\ntype = "memory"\nname = "backup"\n',
    )
    assert [n.name for n in load_notifiers(path, env={})] == ["primary", "backup"]


def test_no_configuration_means_no_notifiers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a path, an IRFLOW_NOTIFIERS variable or ./irflow.toml, there are no notifiers."""
    monkeypatch.chdir(tmp_path)
    assert load_notifiers(env={}) == []


def test_irflow_toml_in_the_current_folder_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a path or variable, ./irflow.toml is the settings file."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, '[[notifiers]]\ntype = "memory"\n')
    assert [n.name for n in load_notifiers(env={})] == ["memory"]


def test_environment_variable_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IRFLOW_NOTIFIERS names the settings file, and wins over ./irflow.toml."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, '[[notifiers]]\ntype = "memory"\nname = "local"\n')
    other = write(tmp_path, '[[notifiers]]\ntype = "memory"\nname = "from-env"\n', "other.toml")
    assert [n.name for n in load_notifiers(env={"IRFLOW_NOTIFIERS": str(other)})] == ["from-env"]


def test_file_without_notifiers_gives_none(tmp_path: Path) -> None:
    """A settings file with no [[notifiers]] table configures no notifiers."""
    assert load_notifiers(write(tmp_path, '[database]\nurl = "sqlite://"\n'), env={}) == []


BASE_MAIL = '[[notifiers]]\ntype = "mail"\nhost = "127.0.0.1"\nsender = "irflow@example.invalid"\n'
BASE_HOOK = '[[notifiers]]\ntype = "webhook"\nurl = "http://127.0.0.1/h"\nsecret_env = "S"\n'


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param(
            '[[notifiers]]\ntype = "site"\n',
            r"entry 1 \(type = \"site\"\): type 'site' is not a notifier type; "
            r'write type = one of "mail", "webhook", "memory"',
            id="unknown-type",
        ),
        pytest.param(
            "[[notifiers]]\nhost = 'x'\n", "entry 1: type None is not a notifier type", id="no-type"
        ),
        pytest.param(
            BASE_HOOK.replace('secret_env = "S"', 'secret = "in-the-file"'),
            "'secret' must not be written in the settings file; .*secret_env = ",
            id="secret-in-file",
        ),
        pytest.param(
            BASE_MAIL + 'username = "u"\npassword = "p"\n',
            "'password' must not be written in the settings file; .*password_env = ",
            id="password-in-file",
        ),
        pytest.param(
            BASE_HOOK.replace('"S"', '"IRFLOW_MISSING"'),
            "environment variable IRFLOW_MISSING .* is not set",
            id="secret-env-unset",
        ),
        pytest.param(
            BASE_MAIL + 'username = "u"\n',
            "give both username and password_env",
            id="username-without-password",
        ),
        pytest.param(
            BASE_MAIL + "prot = 25\n", "unknown key 'prot'; a mail notifier takes", id="typo"
        ),
        pytest.param(BASE_MAIL + 'port = "25"\n', "port = '25' must be an integer", id="port-str"),
        pytest.param(BASE_MAIL + "port = 70000\n", "not a TCP port", id="port-range"),
        pytest.param(BASE_MAIL + 'starttls = "yes"\n', "must be true or false", id="bool"),
        pytest.param(BASE_MAIL + "timeout = 0\n", "more than 0 seconds", id="timeout"),
        pytest.param(BASE_MAIL.replace('host = "127.0.0.1"\n', ""), "'host' is missing", id="host"),
        pytest.param(
            BASE_HOOK.replace("http://127.0.0.1/h", "127.0.0.1/h"), "not an http", id="url"
        ),
        pytest.param(
            BASE_MAIL + BASE_MAIL, 'entry 2 .*the name "mail" is taken by entry 1', id="duplicate"
        ),
        pytest.param('notifiers = "mail"\n', "must be an array of tables", id="not-array"),
        pytest.param("[[notifiers]\n", "not valid TOML", id="syntax"),
    ],
)
def test_bad_entries_name_file_entry_and_fix(tmp_path: Path, text: str, match: str) -> None:
    """A bad settings file is refused with InvalidInput naming the file, the entry and the fix."""
    path = write(tmp_path, text)
    with pytest.raises(InvalidInput, match=match) as caught:
        load_notifiers(path, env={"S": "s"})
    assert str(caught.value).startswith(str(path))
    assert caught.value.exit_code == 2


def test_missing_file_is_named(tmp_path: Path) -> None:
    """A settings file that does not exist is an InvalidInput naming it."""
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(InvalidInput, match=r"nowhere\.toml: no such settings file"):
        load_notifiers(env={"IRFLOW_NOTIFIERS": str(missing)})


def test_second_entry_error_names_index_two(tmp_path: Path) -> None:
    """The entry index in an error counts the [[notifiers]] tables from 1."""
    path = write(tmp_path, BASE_MAIL + '[[notifiers]]\ntype = "webhook"\nurl = "http://x/"\n')
    with pytest.raises(
        InvalidInput, match=r'entry 2 \(type = "webhook"\): \'secret_env\' is missing'
    ):
        load_notifiers(path, env={})
