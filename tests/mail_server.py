"""A real IMAP and POP3 server (Debian's Dovecot) on loopback for the mailbox poller's
tests: static password, Maildir under a temp directory, no TLS (loopback only)."""

from __future__ import annotations

import mailbox
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

DOVECOT = "/usr/sbin/dovecot"
NOBODY = 65534

CONF = """protocols = imap pop3
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{d}/mail/%u
first_valid_uid = 1
default_login_user = dovenull
default_internal_user = dovecot
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={uid} home={d}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  chroot =
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MailServer:
    def __init__(self, password: str = "secret"):
        # Its own directory under /tmp: Dovecot's mail processes run as nobody and must
        # reach it (pytest's tmp_path sits below directories only root may enter).
        import tempfile

        self.dir = Path(tempfile.mkdtemp(prefix="wpbridge-dovecot-"))
        self.password = password
        self.imap_port, self.pop3_port = _free_port(), _free_port()

    def __enter__(self) -> "MailServer":
        for sub in ("run", "state", "mail", "home"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "dovecot.conf"
        self.conf.write_text(CONF.format(d=self.dir, password=self.password, uid=NOBODY,
                                         imap=self.imap_port, pop3=self.pop3_port))
        for sub in ("mail", "home"):
            shutil.chown(self.dir / sub, NOBODY, NOBODY)
        os.chmod(self.dir, 0o755)
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.imap_port), timeout=1).close()
                socket.create_connection(("127.0.0.1", self.pop3_port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError((self.dir / "dovecot.log").read_text()
                                       if (self.dir / "dovecot.log").exists() else "dovecot did not start")
                time.sleep(0.1)

    def deliver(self, user: str, raw: bytes) -> None:
        """Put a message into the user's INBOX as a local delivery agent would."""
        box_dir = self.dir / "mail" / user
        box = mailbox.Maildir(box_dir, create=True)
        box.add(raw)
        for root, dirs, files in os.walk(box_dir):
            for name in dirs + files:
                shutil.chown(os.path.join(root, name), NOBODY, NOBODY)
        shutil.chown(box_dir, NOBODY, NOBODY)

    def count(self, user: str) -> int:
        box_dir = self.dir / "mail" / user
        return sum(len(os.listdir(box_dir / sub)) for sub in ("new", "cur") if (box_dir / sub).exists())

    def __exit__(self, *exc) -> None:
        subprocess.run([DOVECOT, "-c", str(self.conf), "stop"], capture_output=True)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
