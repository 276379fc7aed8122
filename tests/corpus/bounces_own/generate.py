"""Write the project's own labelled bounces: messages/*.eml and labels.csv.

    python tests/corpus/bounces_own/generate.py

Every message here is written for this project from the MTAs' and providers' documented
formats (Postfix bounce(5) templates, Exim's and Sendmail's DSN texts, qmail-send, Exchange
and Office 365 NDRs with Microsoft's enhanced codes, Gmail, Yahoo, Outlook.com, Amazon SES
SNS notifications, SendGrid, Mailgun, Postmark, Zoho, GMX, Orange, RFC 3464/3834/5965),
with example.* domains and made-up people. No message is copied from a public bounce
collection. Labels say what each message means, in sisimai's reason names and definitions
(words about the recipient's existence are ``userunknown`` with an X.1.1 status or at RCPT
TO, else ``filtered``) so that one
scorer reads both corpora (bench/bounce_eval.py), plus ``delayed`` (a delay warning, no
bounce) and ``notbounce``; ``address`` is the recipient expected at that index.

File names are ``own-<engine>-NN.eml``: the engine is the source in leave-one-source-out.
Deterministic: the same files every run.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "messages"   # main(out) points it elsewhere
SHOP = "shop@shop.example"
VERP = "b+r1x7k2@bounce.shop.example"
DATE = "Tue, 12 Mar 2024 10:15:00 +0000"
rows: list[dict] = []
counts: Counter = Counter()

ORIGINAL = """From: Harbor Outfitters <shop@shop.example>
To: {to}
Subject: Your Harbor Outfitters order #10{n} has been received
Date: Tue, 12 Mar 2024 10:14:58 +0000
Message-ID: <order-10{n}@shop.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
"""


def add(engine: str, text: str, labels: list[tuple]) -> None:
    """labels: (address, status, reason, hard[, feedback_type]) per recipient, in order."""
    counts[engine] += 1
    name = f"own-{engine}-{counts[engine]:02d}.eml"
    OUT.mkdir(exist_ok=True)
    (OUT / name).write_bytes(text.lstrip("\n").replace("\n", "\r\n").encode("utf-8"))
    for i, (address, status, reason, hard, *fb) in enumerate(labels):
        rows.append({"file": name, "rcpt_index": i, "status": status, "reply": "",
                     "reason": reason, "hardbounce": "true" if hard else "false",
                     "feedback_type": fb[0] if fb else "", "address": address})


def original(to: str) -> str:
    return ORIGINAL.format(to=to, n=len(rows) + 1)


# --- Postfix: bounce(5) templates, multipart/report ------------------------------------------

def postfix(recipients, delayed=False, lang="en"):
    """recipients: (address, status, diagnostic, remote)"""
    if delayed:
        subject, intro = "Delayed Mail (still being retried)", (
            "This is the mail system at host mail.shop.example.\n\n"
            "####################################################################\n"
            "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\n"
            "####################################################################\n\n"
            "Your message could not be delivered for more than 4 hour(s).\n"
            "It will be retried until it is 5 day(s) old.\n")
    else:
        subject, intro = "Undelivered Mail Returned to Sender", {
            "en": "This is the mail system at host mail.shop.example.\n\n"
                  "I'm sorry to have to inform you that your message could not\n"
                  "be delivered to one or more recipients. It's attached below.\n",
            "de": "Dies ist das Mailsystem auf dem Host mail.shop.example.\n\n"
                  "Leider konnte Ihre Nachricht an einen oder mehrere Empfänger nicht\n"
                  "zugestellt werden. Sie ist unten angehängt.\n",
            "fr": "Ceci est le système de messagerie de mail.shop.example.\n\n"
                  "Votre message n'a pas pu être remis à un ou plusieurs destinataires.\n"
                  "Il est joint ci-dessous.\n"}[lang]
    human = "\n".join(f"<{a}>: host {r} said: {d}" if r else f"<{a}>: {d}"
                      for a, s, d, r in recipients)
    dsn = "\n".join(
        f"Final-Recipient: rfc822; {a}\nOriginal-Recipient: rfc822;{a}\n"
        f"Action: {'delayed' if delayed else 'failed'}\nStatus: {s}\n"
        + (f"Remote-MTA: dns; {r.split('[')[0]}\n" if r else "")
        + f"Diagnostic-Code: {'smtp' if r else 'X-Postfix'}; {d.split(' (in reply')[0]}\n"
        for a, s, d, r in recipients)
    return f"""
Return-Path: <>
From: MAILER-DAEMON@mail.shop.example (Mail Delivery System)
To: {VERP}
Subject: {subject}
Date: {DATE}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="PF1"

--PF1
Content-Description: Notification
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

{intro}
The mail system

{human}

--PF1
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.shop.example
X-Postfix-Queue-ID: 4Tv2kq1XyZz9sVm
X-Postfix-Sender: rfc822; {VERP}
Arrival-Date: {DATE}

{dsn}
--PF1
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

{original(", ".join(a for a, *_ in recipients))}
--PF1--
"""


# --- Exim: plain text, X-Failed-Recipients ---------------------------------------------------

def exim(recipients, delayed=False):
    """recipients: (address, lines)"""
    failed = ", ".join(a for a, _ in recipients)
    body = "\n\n".join(f"  {a}\n    {t}" for a, t in recipients)
    if delayed:
        return f"""
From: Mail Delivery System <Mailer-Daemon@mx.shop.example>
To: {VERP}
Subject: Warning: message 1rk2Xa-0003Qp-7T delayed 24 hours
Date: {DATE}
Auto-Submitted: auto-replied
X-Failed-Recipients: {failed}

This message was created automatically by mail delivery software.
A message that you sent has not yet been delivered to one or more of its
recipients after more than 24 hours on the queue on mx.shop.example.

The message identifier is:     1rk2Xa-0003Qp-7T
The subject of the message is: Your order
The date of the message is:    {DATE}

The address to which the message has not yet been delivered is:

{body}

No action is required on your part. Delivery attempts will continue for
some time, and this warning may be repeated at intervals if the message
remains undelivered. Eventually the mail delivery software will give up,
and when that happens, the message will be returned to you.
"""
    return f"""
From: Mail Delivery System <Mailer-Daemon@mx.shop.example>
To: {VERP}
Subject: Mail delivery failed: returning message to sender
Date: {DATE}
Auto-Submitted: auto-replied
X-Failed-Recipients: {failed}

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

{body}

------ This is a copy of the message, including all the headers. ------

{original(failed)}
Thank you for your order.
"""


# --- Sendmail: DSN with a transcript ---------------------------------------------------------

def sendmail(recipients, delayed=False):
    """recipients: (address, status, reply line, command)"""
    if delayed:
        a, s, line, _ = recipients[0]
        return f"""
From: Mail Delivery Subsystem <MAILER-DAEMON@relay.shop.example>
To: {VERP}
Subject: Warning: could not send message for past 4 hours
Date: {DATE}
Auto-Submitted: auto-generated (warning-timeout)
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="SM2"

--SM2

    **********************************************
    **      THIS IS A WARNING MESSAGE ONLY      **
    **  YOU DO NOT NEED TO RESEND YOUR MESSAGE  **
    **********************************************

The original message was received at {DATE}
from localhost [127.0.0.1]

   ----- Transcript of session follows -----
<{a}>... {line}
Warning: message still undelivered after 4 hours
Will keep trying until message is 5 days old

--SM2
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.shop.example

Final-Recipient: RFC822; {a}
Action: delayed
Status: {s}
Last-Attempt-Date: {DATE}
Will-Retry-Until: Sun, 17 Mar 2024 10:15:00 +0000

--SM2
Content-Type: text/rfc822-headers

{original(a)}
--SM2--
"""
    fatal = "\n".join(f"<{a}>\n    (reason: {line})" for a, s, line, c in recipients)
    transcript = "\n".join(f"... while talking to mx.{a.split('@')[1]}.:\n>>> {c}\n<<< {line}\n"
                           f"{line.split()[0]} {s} <{a}>... {'User unknown' if s == '5.1.1' else 'Service unavailable'}"
                           for a, s, line, c in recipients)
    dsn = "\n".join(f"Final-Recipient: RFC822; {a}\nAction: failed\nStatus: {s}\n"
                    f"Remote-MTA: DNS; mx.{a.split('@')[1]}\nDiagnostic-Code: SMTP; {line}\n"
                    for a, s, line, c in recipients)
    return f"""
From: Mail Delivery Subsystem <MAILER-DAEMON@relay.shop.example>
To: {VERP}
Subject: Returned mail: see transcript for details
Date: {DATE}
Auto-Submitted: auto-generated (failure)
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="SM1"

--SM1

The original message was received at {DATE}
from localhost [127.0.0.1]

   ----- The following addresses had permanent fatal errors -----
{fatal}

   ----- Transcript of session follows -----
{transcript}

--SM1
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.shop.example
Received-From-MTA: DNS; localhost

{dsn}
--SM1
Content-Type: message/rfc822

{original(", ".join(a for a, *_ in recipients))}
Thank you.
--SM1--
"""


# --- qmail -------------------------------------------------------------------------------------

def qmail(recipients):
    """recipients: (address, text)"""
    body = "\n\n".join(f"<{a}>:\n{t}" for a, t in recipients)
    return f"""
From: MAILER-DAEMON@mail.shop.example
To: {VERP}
Subject: failure notice
Date: {DATE}

Hi. This is the qmail-send program at mail.shop.example.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

{body}

--- Below this line is a copy of the message.

{original(", ".join(a for a, _ in recipients))}
Thanks.
"""


# --- Exchange / Office 365 / Outlook.com NDRs ------------------------------------------------

NDR_TEXT = {
    "en": ("Undeliverable: Your order", "Delivery has failed to these recipients or groups:",
           "Diagnostic information for administrators:"),
    "de": ("Unzustellbar: Ihre Bestellung", "Die Zustellung an folgende Empfänger oder Gruppen ist fehlgeschlagen:",
           "Diagnoseinformationen für Administratoren:"),
    "fr": ("Non remis : Votre commande", "La remise aux destinataires ou groupes suivants a échoué :",
           "Informations de diagnostic pour les administrateurs :"),
    "es": ("No se puede entregar: Su pedido", "Error en la entrega a estos destinatarios o grupos:",
           "Información de diagnóstico para administradores:"),
    "nl": ("Onbestelbaar: Uw bestelling", "De bezorging is mislukt voor deze ontvangers of groepen:",
           "Diagnostische gegevens voor beheerders:"),
}


def exchange(a, status, remote, human, lang="en", host="AM6PR01MB1234.eurprd01.prod.outlook.com",
             reporting="AM6PR01MB1234.eurprd01.prod.outlook.com"):
    subject, failed, diag = NDR_TEXT[lang]
    return f"""
From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@shop.example>
To: {VERP}
Subject: {subject}
Date: {DATE}
Content-Language: {lang}
X-MS-Exchange-Message-Is-Ndr:
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="EX1"

--EX1
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: 8bit

{failed}

{a}
{human}

{diag}

Generating server: {host}

{a}
Remote Server returned '{remote}'

Original message headers:

Received: from shop.example (192.0.2.10) by {host}; {DATE}
Message-ID: <order-ex@shop.example>

--EX1
Content-Type: message/delivery-status

Reporting-MTA: dns;{reporting}
Received-From-MTA: dns;shop.example
Arrival-Date: {DATE}

Final-Recipient: rfc822;{a}
Action: failed
Status: {status}
Diagnostic-Code: smtp;{remote}

--EX1
Content-Type: message/rfc822

{original(a)}
Thank you.
--EX1--
"""


# --- Gmail ------------------------------------------------------------------------------------

def gmail(a, headline, explanation, remote, status, delayed=False):
    kind = "Delay" if delayed else "Failure"
    action = "delayed" if delayed else "failed"
    return f"""
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: {VERP}
Subject: Delivery Status Notification ({kind})
Date: {DATE}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; boundary="GM1"; report-type=delivery-status

--GM1
Content-Type: text/plain; charset="UTF-8"

** {headline} **

{explanation}

The response was:

{remote}

--GM1
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com
Arrival-Date: {DATE}

Final-Recipient: rfc822; {a}
Action: {action}
Status: {status}
Remote-MTA: dns; mx.{a.split('@')[1]}.
Diagnostic-Code: smtp; {remote}
Last-Attempt-Date: {DATE}

--GM1
Content-Type: message/rfc822

{original(a)}
Thanks.
--GM1--
"""


def yahoo(recipients):
    body = "\n\n".join(f"{a}\n{t}" for a, t in recipients)
    return f"""
From: MAILER-DAEMON@yahoo.com
To: {VERP}
Subject: Failure Notice
Date: {DATE}

Sorry, we were unable to deliver your message to the following address.

{body}

--- Below this line is a copy of the message.

{original(", ".join(a for a, _ in recipients))}
Thanks.
"""


def rfc3464(reporting, sender_name, sender, subject, human, recipients, lang_note=""):
    """A plain RFC 3464 DSN. recipients: (address, action, status, diagnostic)"""
    dsn = "\n".join(f"Final-Recipient: rfc822; {a}\nAction: {act}\nStatus: {s}\n"
                    + (f"Diagnostic-Code: smtp; {d}\n" if d else "")
                    for a, act, s, d in recipients)
    return f"""
From: {sender_name} <{sender}>
To: {VERP}
Subject: {subject}
Date: {DATE}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="R1"

--R1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

{human}

--R1
Content-Type: message/delivery-status

Reporting-MTA: dns; {reporting}

{dsn}
--R1
Content-Type: text/rfc822-headers

{original(", ".join(a for a, *_ in recipients))}
--R1--
"""


def ses(kind, recipients, bounce_type="Permanent", subtype="General", feedback="abuse"):
    mail = {"timestamp": "2024-03-12T10:15:00.000Z", "source": SHOP,
            "messageId": "0100018e2b3c4d5e-aaaa-bbbb-cccc-000000000000-000000"}
    if kind == "Bounce":
        payload = {"notificationType": "Bounce", "mail": mail, "bounce": {
            "bounceType": bounce_type, "bounceSubType": subtype,
            "bouncedRecipients": [{"emailAddress": a, "action": "failed", "status": s,
                                   "diagnosticCode": d} for a, s, d in recipients],
            "timestamp": "2024-03-12T10:15:01.000Z", "feedbackId": "0100018e-fb-1",
            "reportingMTA": "dns; a8-12.smtp-out.amazonses.com"}}
    else:
        payload = {"notificationType": "Complaint", "mail": mail, "complaint": {
            "complainedRecipients": [{"emailAddress": a} for a, *_ in recipients],
            "timestamp": "2024-03-12T10:15:01.000Z", "feedbackId": "0100018e-fb-2",
            "complaintFeedbackType": feedback, "userAgent": "Yahoo!-Mail-Feedback/2.0"}}
    envelope = {"Type": "Notification", "MessageId": "5f1e3c2a-0000-4000-8000-000000000001",
                "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ses-events",
                "Message": json.dumps(payload), "Timestamp": "2024-03-12T10:15:02.000Z",
                "SignatureVersion": "1"}
    return f"""
From: AWS Notifications <no-reply@sns.amazonaws.com>
To: {VERP}
Subject: AWS Notification Message
Date: {DATE}
Content-Type: text/plain; charset=UTF-8

{json.dumps(envelope, indent=2)}

--
If you wish to stop receiving notifications from this topic, please click or visit the link below to unsubscribe:
https://sns.eu-west-1.amazonaws.com/unsubscribe.html?SubscriptionArn=arn:aws:sns:eu-west-1:123456789012:ses-events
"""


def arf(agent, feedback_type, rcpt, with_rcpt_field=True, extra_headers="", original_to=None):
    return f"""
From: {agent} <feedback@fbl.example.net>
To: abuse@shop.example
Subject: Email Feedback Report for IP 192.0.2.10
Date: {DATE}
{extra_headers}MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="FB1"

--FB1
Content-Type: text/plain; charset="US-ASCII"

This is an email abuse report for an email message received from IP
192.0.2.10 on {DATE}. For more information about this format please see
http://tools.ietf.org/html/rfc5965

--FB1
Content-Type: message/feedback-report

Feedback-Type: {feedback_type}
User-Agent: {agent}/1.0
Version: 1
Original-Mail-From: <{VERP}>
{f"Original-Rcpt-To: <{rcpt}>" if with_rcpt_field else ""}
Arrival-Date: {DATE}
Source-IP: 192.0.2.10
Reported-Domain: shop.example

--FB1
Content-Type: message/rfc822

{original(original_to or rcpt)}
Weekly offers inside.
--FB1--
"""


def autoreply(sender, subject, body, headers="Auto-Submitted: auto-replied\n", lang="en"):
    return f"""
From: {sender}
To: {SHOP}
Subject: {subject}
Date: {DATE}
{headers}Content-Language: {lang}
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

{body}
"""


def build() -> None:
    # ---- Postfix
    add("postfix", postfix([("ann@example.com", "5.1.1", "550 5.1.1 <ann@example.com>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command)", "mx.example.com[192.0.2.20]")]),
        [("ann@example.com", "5.1.1", "userunknown", True)])
    add("postfix", postfix([("bob@nonexistent-domain.example", "5.4.4", "Host or domain name not found. Name service error for name=nonexistent-domain.example type=A: Host not found", "")]),
        [("bob@nonexistent-domain.example", "5.4.4", "hostunknown", True)])
    add("postfix", postfix([("carla@example.org", "5.2.2", "552 5.2.2 <carla@example.org>: Recipient address rejected: Mailbox quota exceeded (in reply to RCPT TO command)", "mx.example.org[192.0.2.21]")]),
        [("carla@example.org", "5.2.2", "mailboxfull", False)])
    add("postfix", postfix([("dan@example.net", "5.7.1", "554 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.10 (in reply to RCPT TO command)", "mx.example.net[192.0.2.22]")]),
        [("dan@example.net", "5.7.1", "blocked", False)])
    add("postfix", postfix([("erin@example.com", "5.7.1", "550 5.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.10] (in reply to RCPT TO command)", "mx.example.com[192.0.2.20]")]),
        [("erin@example.com", "5.7.1", "requireptr", False)])
    add("postfix", postfix([("fred@example.org", "4.4.1", "connect to mx.example.org[192.0.2.21]:25: Connection timed out", "")], delayed=True),
        [("fred@example.org", "4.4.1", "delayed", False)])
    add("postfix", postfix([("gina@example.de", "5.1.1", "550 5.1.1 <gina@example.de>: Benutzer unbekannt (in reply to RCPT TO command)", "mx.example.de[192.0.2.23]"),
                            ("hans@example.de", "5.2.2", "552 5.2.2 <hans@example.de>: Postfach voll (in reply to RCPT TO command)", "mx.example.de[192.0.2.23]")], lang="de"),
        [("gina@example.de", "5.1.1", "userunknown", True), ("hans@example.de", "5.2.2", "mailboxfull", False)])
    add("postfix", postfix([("ines@example.fr", "5.7.1", "554 5.7.1 <ines@example.fr>: Relay access denied (in reply to RCPT TO command)", "mx.example.fr[192.0.2.24]")], lang="fr"),
        [("ines@example.fr", "5.7.1", "norelaying", False)])
    add("postfix", postfix([("jon@example.com", "5.7.1", "554 5.7.1 Rejected by the recipient's filter rules: this sender is not allowed to write to this mailbox (in reply to end of DATA command)", "mx.example.com[192.0.2.20]")]),
        [("jon@example.com", "5.7.1", "filtered", False)])
    add("postfix", postfix([("kim@example.com", "5.0.0", "550 <kim@example.com>: User unknown (in reply to end of DATA command)", "mx.example.com[192.0.2.20]")]),
        [("kim@example.com", "5.0.0", "filtered", False)])
    add("postfix", postfix([("lou@example.net", "4.7.0", "450 4.7.0 Must issue a STARTTLS command first (in reply to MAIL FROM command)", "mx.example.net[192.0.2.22]")], delayed=True),
        [("lou@example.net", "4.7.0", "delayed", False)])
    add("postfix", postfix([("max@example.net", "5.7.0", "530 5.7.0 Must issue a STARTTLS command first. TLS is required for all mail to this domain (in reply to MAIL FROM command)", "mx.example.net[192.0.2.22]")]),
        [("max@example.net", "5.7.0", "securityerror", False)])
    add("postfix", postfix([("nia@example.org", "5.4.6", "mail forwarding loop for nia@example.org", "")]),
        [("nia@example.org", "5.4.6", "networkerror", False)])

    # The same words at RCPT TO and after DATA; a domain whose name servers answer garbage
    add("postfix", postfix([
        ("abe@example.com", "5.0.0", "550 <abe@example.com>: User unknown (in reply to RCPT TO command)", "mx.example.com[192.0.2.20]"),
        ("bea@example.com", "5.0.0", "550 <bea@example.com>: User unknown (in reply to end of DATA command)", "mx.example.com[192.0.2.20]"),
        ("cyd@broken-dns.example", "5.4.4", "Host or domain name not found. Name service error for name=broken-dns.example type=MX: Malformed or unexpected name server reply", "")]),
        [("abe@example.com", "5.0.0", "userunknown", True), ("bea@example.com", "5.0.0", "filtered", False),
         ("cyd@broken-dns.example", "5.4.4", "hostunknown", True)])

    # ---- Exim
    add("exim", exim([("olga@example.com", "host mx.example.com [192.0.2.30]\n    SMTP error from remote mail server after RCPT TO:<olga@example.com>:\n    550 5.1.1 <olga@example.com>: No such user here")]),
        [("olga@example.com", "5.1.1", "userunknown", True)])
    add("exim", exim([("dov@example.net", "host mx.example.net [192.0.2.31]\n    SMTP error from remote mail server after RCPT TO:<dov@example.net>:\n    550 Unknown local part dov in <dov@example.net>"),
                      ("eda@example.net", "host mx.example.net [192.0.2.31]\n    SMTP error from remote mail server after pipelined end of data:\n    550 Unknown user")]),
        [("dov@example.net", "", "userunknown", True), ("eda@example.net", "", "filtered", False)])
    add("exim", exim([("paul@example.org", "Unrouteable address")]),
        [("paul@example.org", "", "hostunknown", True)])
    add("exim", exim([("quinn@example.net", "host mx.example.net [192.0.2.31]\n    SMTP error from remote mail server after RCPT TO:<quinn@example.net>:\n    452 4.2.2 The email account that you tried to reach is over quota\n    retry timeout exceeded")]),
        [("quinn@example.net", "4.2.2", "mailboxfull", False)])
    add("exim", exim([("rosa@example.com", "host mx.example.com [192.0.2.30]\n    SMTP error from remote mail server after end of data:\n    550 5.7.1 Message rejected: this message appears to contain a virus (Eicar-Test-Signature)")]),
        [("rosa@example.com", "5.7.1", "virusdetected", False)])
    add("exim", exim([("sam@example.org", "host mx.example.org [192.0.2.32]\n    SMTP error from remote mail server after end of data:\n    550 5.7.1 Message content rejected: it looks like spam (score 12.3)")]),
        [("sam@example.org", "5.7.1", "spamdetected", False)])
    add("exim", exim([("tia@example.net", "retry timeout exceeded")]),
        [("tia@example.net", "", "expired", False)])
    add("exim", exim([("uwe@example.de", "host mx.example.de [192.0.2.33]\n    SMTP error from remote mail server after MAIL FROM:<b+r1x7k2@bounce.shop.example> SIZE=5120:\n    421 4.7.0 Too many connections from your IP, slow down")], delayed=True),
        [("uwe@example.de", "4.7.0", "delayed", False)])
    add("exim", exim([("vera@example.com", "host mx.example.com [192.0.2.30]\n    SMTP error from remote mail server after RCPT TO:<vera@example.com>:\n    550 5.2.1 The email account that you tried to reach is disabled."),
                      ("walt@example.com", "host mx.example.com [192.0.2.30]\n    SMTP error from remote mail server after RCPT TO:<walt@example.com>:\n    550 5.1.1 The email account that you tried to reach does not exist.")]),
        [("vera@example.com", "5.2.1", "suspend", False), ("walt@example.com", "5.1.1", "userunknown", True)])
    add("exim", exim([("xena@example.org", "host mx.example.org [192.0.2.32]\n    SMTP error from remote mail server after end of data:\n    550 5.6.0 Message rejected: header Message-ID is missing or malformed, not RFC 5322 compliant")]),
        [("xena@example.org", "5.6.0", "contenterror", False)])
    add("exim", exim([("yuri@example.net", "host mx.example.net [192.0.2.31]\n    SMTP error from remote mail server after RCPT TO:<yuri@example.net>:\n    550 5.7.1 Unauthenticated email from shop.example is not accepted due to domain's DMARC policy")]),
        [("yuri@example.net", "5.7.1", "authfailure", False)])

    # ---- Sendmail
    add("sendmail", sendmail([("zoe@example.com", "5.1.1", "550 5.1.1 <zoe@example.com>... User unknown", "RCPT To:<zoe@example.com>")]),
        [("zoe@example.com", "5.1.1", "userunknown", True)])
    add("sendmail", sendmail([("adam@example.org", "5.7.1", "550 5.7.1 <adam@example.org>... Mail from 192.0.2.10 rejected: IP address listed in bl.spamcop.net", "MAIL From:<b+r1x7k2@bounce.shop.example>")]),
        [("adam@example.org", "5.7.1", "blocked", False)])
    add("sendmail", sendmail([("bea@example.net", "5.2.2", "552 5.2.2 <bea@example.net>... Mailbox full", "RCPT To:<bea@example.net>")]),
        [("bea@example.net", "5.2.2", "mailboxfull", False)])
    add("sendmail", sendmail([("cid@example.com", "5.3.4", "552 5.3.4 Message size exceeds fixed maximum message size (10485760)", "MAIL From:<b+r1x7k2@bounce.shop.example> SIZE=20971520")]),
        [("cid@example.com", "5.3.4", "mesgtoobig", False)])
    add("sendmail", sendmail([("dora@example.org", "4.4.1", "Deferred: Connection timed out with mx.example.org.", "")], delayed=True),
        [("dora@example.org", "4.4.1", "delayed", False)])
    add("sendmail", sendmail([("eli@example.net", "5.7.1", "550 5.7.1 Access denied. IP name lookup failed [192.0.2.10]", "MAIL From:<b+r1x7k2@bounce.shop.example>")]),
        [("eli@example.net", "5.7.1", "requireptr", False)])
    add("sendmail", sendmail([("aol1@example.com", "5.1.1", "550 5.1.1 <aol1@example.com>... MAILBOX NOT FOUND", "RCPT To:<aol1@example.com>"),
                              ("aol2@example.com", "5.2.2", "552 5.2.2 <aol2@example.com>... MAILBOX FULL", "RCPT To:<aol2@example.com>")]),
        [("aol1@example.com", "5.1.1", "userunknown", True), ("aol2@example.com", "5.2.2", "mailboxfull", False)])

    # ---- qmail
    add("qmail", qmail([("fay@example.com", "192.0.2.40 does not like recipient.\nRemote host said: 550 5.1.1 <fay@example.com>: Recipient address rejected: User unknown\nGiving up on 192.0.2.40.")]),
        [("fay@example.com", "5.1.1", "userunknown", True)])
    add("qmail", qmail([("gus@example.org", "Sorry, I couldn't find any host named example.org. (#5.1.2)")]),
        [("gus@example.org", "5.1.2", "hostunknown", True)])
    add("qmail", qmail([("hal@example.net", "The users mailfolder is over the allowed quota (size). (#5.2.2)")]),
        [("hal@example.net", "5.2.2", "mailboxfull", False)])
    add("qmail", qmail([("ida@example.com", "Sorry, no mailbox here by that name. (#5.1.1)"),
                        ("jay@example.com", "This address no longer accepts mail. (#5.2.1)")]),
        # X.2.1 "mailbox disabled" with words about the address, no RCPT named: "filtered"
        [("ida@example.com", "5.1.1", "userunknown", True), ("jay@example.com", "5.2.1", "filtered", False)])
    add("qmail", qmail([("kai@example.org", "Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)\nI'm not going to try again; this message has been in the queue too long.")]),
        [("kai@example.org", "4.4.1", "expired", False)])

    # ---- Exchange / Office 365 / Outlook.com
    add("office365", exchange("lea@example.com", "5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
                              "Your message to lea@example.com couldn't be delivered.\nlea wasn't found at example.com."),
        [("lea@example.com", "5.1.10", "userunknown", True)])
    add("office365", exchange("mia@example.de", "5.2.2", "554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded",
                              "Das Postfach des Empfängers ist voll und kann derzeit keine Nachrichten annehmen.", lang="de"),
        [("mia@example.de", "5.2.2", "mailboxfull", False)])
    add("office365", exchange("noe@example.fr", "5.7.606", "550 5.7.606 Access denied, banned sending IP [192.0.2.10]. To request removal from this list please visit https://sender.office.com/",
                              "Votre message n'a pas pu être remis.", lang="fr"),
        [("noe@example.fr", "5.7.606", "blocked", False)])
    add("office365", exchange("ole@example.com", "5.4.1", "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [AM6PR01MB1234.eurprd01.prod.outlook.com]",
                              "Your message to ole@example.com couldn't be delivered."),
        [("ole@example.com", "5.4.1", "userunknown", True)])
    add("office365", exchange("pia@example.es", "5.7.1", "550 5.7.1 RESOLVER.RST.AuthRequired; authentication required [Stage: CreateMessage]",
                              "El grupo solo acepta mensajes de personas de su organización.", lang="es"),
        [("pia@example.es", "5.7.1", "filtered", False)])
    add("office365", exchange("rob@example.nl", "5.4.310", "550 5.4.310 DNS domain example.nl does not exist [Message=InfoDomainNonexistent] [LastAttemptedServerName=example.nl]",
                              "Het domein bestaat niet.", lang="nl"),
        [("rob@example.nl", "5.4.310", "hostunknown", True)])
    add("office365", exchange("sia@example.com", "5.7.509", "550 5.7.509 Access denied, sending domain shop.example does not pass DMARC verification and has a DMARC policy of reject.",
                              "Your message couldn't be delivered because the sending domain failed DMARC."),
        [("sia@example.com", "5.7.509", "authfailure", False)])
    add("office365", exchange("tom@example.com", "5.4.300", "550 5.4.300 Message expired -> 451 4.4.0 Primary target IP address responded with: \"421 4.4.2 Connection dropped due to SocketError.\" Attempted failover to alternate host, but that did not succeed.",
                              "Delivery to these recipients or groups failed because the message could not be delivered within the time allowed."),
        [("tom@example.com", "5.4.300", "expired", False)])
    add("exchange", exchange("ugo@example.com", "5.1.1", "550 5.1.1 User unknown", "The e-mail address you entered couldn't be found.",
                             host="EXCH01.corp.example.com", reporting="EXCH01.corp.example.com"),
        [("ugo@example.com", "5.1.1", "userunknown", True)])
    add("exchange", exchange("val@example.com", "5.2.1", "550 5.2.1 Mailbox cannot be accessed: the mailbox has been disabled",
                             "The mailbox you tried to send to is disabled.", host="EXCH01.corp.example.com", reporting="EXCH01.corp.example.com"),
        [("val@example.com", "5.2.1", "suspend", False)])
    add("outlook", exchange("wes@hotmail.example", "5.5.0", "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [DB5EUR03FT012.eop-EUR03.prod.protection.outlook.com]",
                            "wes wasn't found at hotmail.example.", host="DB5EUR03FT012.mail.protection.outlook.com"),
        # an NDR that does not say which command the words answered: "filtered"
        [("wes@hotmail.example", "5.5.0", "filtered", False)])
    add("outlook", exchange("xia@outlook.example", "4.7.650", "451 4.7.650 The mail server [192.0.2.10] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://postmaster.live.com (S775)",
                            "Delivery to this recipient was refused because of the sending server's reputation.", host="DB5EUR03FT012.mail.protection.outlook.com"),
        [("xia@outlook.example", "4.7.650", "badreputation", False)])
    add("outlook", exchange("yve@hotmail.example", "5.7.1", "550 5.7.1 Unfortunately, messages from [192.0.2.10] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150).",
                            "Your message wasn't delivered.", host="DB5EUR03FT012.mail.protection.outlook.com"),
        [("yve@hotmail.example", "5.7.1", "blocked", False)])

    # ---- Gmail
    add("gmail", gmail("zed@gmail.example", "Address not found", "Your message wasn't delivered to zed@gmail.example because the address couldn't be found, or is unable to receive mail.",
                       "550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. Learn more at https://support.google.com/mail/?p=NoSuchUser", "5.1.1"),
        [("zed@gmail.example", "5.1.1", "userunknown", True)])
    add("gmail", gmail("amy@gmail.example", "Message not delivered", "Your message couldn't be delivered to amy@gmail.example because the remote server is misconfigured. See technical details below for more information.",
                       "552 5.2.2 The recipient's inbox is out of storage space and inactive. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaPerm", "5.2.2"),
        [("amy@gmail.example", "5.2.2", "mailboxfull", False)])
    add("gmail", gmail("ben@gmail.example", "Message blocked", "Your message to ben@gmail.example has been blocked. See technical details below for more information.",
                       "550 5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM.", "5.7.26"),
        [("ben@gmail.example", "5.7.26", "authfailure", False)])
    add("gmail", gmail("cat@gmail.example", "Message not delivered yet", "There was a temporary problem delivering your message to cat@gmail.example. Gmail will retry for 46 more hours. You'll be notified if the delivery fails permanently.",
                       "421 4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited.", "4.7.28", delayed=True),
        [("cat@gmail.example", "4.7.28", "delayed", False)])
    add("gmail", gmail("dee@gmail.example", "Message blocked", "Your message to dee@gmail.example has been blocked.",
                       "550 5.7.1 Our system has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked.", "5.7.1"),
        [("dee@gmail.example", "5.7.1", "spamdetected", False)])
    add("gmail", gmail("eve@gmail.example", "Message not delivered", "Your message couldn't be delivered to eve@gmail.example.",
                       "550 5.7.25 The IP address sending this message does not have a PTR record setup, or the corresponding forward DNS entry does not point to the sending IP.", "5.7.25"),
        [("eve@gmail.example", "5.7.25", "requireptr", False)])
    add("gmail", gmail("fin@example.com", "Address not found", "Your message wasn't delivered to fin@example.com because the domain example.com couldn't be found. Check for typos or unnecessary spaces and try again.",
                       "DNS Error: DNS type 'mx' lookup of example.com responded with code NXDOMAIN Domain name not found: example.com", "5.1.2"),
        [("fin@example.com", "5.1.2", "hostunknown", True)])
    add("gmail", gmail("gil@gmail.example", "Message not delivered", "Your message couldn't be delivered to gil@gmail.example.",
                       "552 5.7.0 This message was blocked because its content presents a potential security issue. To review our message content and attachment content guidelines, go to https://support.google.com/mail/?p=BlockedMessage", "5.7.0"),
        [("gil@gmail.example", "5.7.0", "virusdetected", False)])

    # ---- Yahoo
    add("yahoo", yahoo([("hugo@yahoo.example", "Remote host said: 554 delivery error: dd Sorry your message to hugo@yahoo.example cannot be delivered. This mailbox is disabled (554.30). - mta1234.mail.gq1.yahoo.com [RCPT_TO]")]),
        [("hugo@yahoo.example", "", "suspend", False)])
    add("yahoo", yahoo([("iris@yahoo.example", "Remote host said: 554 delivery error: dd Requested mail action aborted, mailbox not found - mta1234.mail.gq1.yahoo.com [RCPT_TO]")]),
        [("iris@yahoo.example", "", "userunknown", True)])
    add("yahoo", yahoo([("jack@yahoo.example", "Remote host said: 421 4.7.0 [TSS04] Messages from 192.0.2.10 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes [RCPT_TO]\nGiving up on 192.0.2.10.")]),
        [("jack@yahoo.example", "", "blocked", False)])
    add("yahoo", yahoo([("kate@yahoo.example", "Remote host said: 552 1 Requested mail action aborted, mailbox is over quota [RCPT_TO]"),
                        ("liam@yahoo.example", "Remote host said: 554 30 Sorry, your message to liam@yahoo.example cannot be delivered. This account has been disabled or discontinued [#102]. [RCPT_TO]")]),
        [("kate@yahoo.example", "", "mailboxfull", False), ("liam@yahoo.example", "", "suspend", False)])

    # ---- Amazon SES (SNS notifications by mail)
    add("amazonses", ses("Bounce", [("mona@example.com", "5.1.1", "smtp; 550 5.1.1 user unknown")], subtype="General"),
        [("mona@example.com", "5.1.1", "userunknown", True)])
    add("amazonses", ses("Bounce", [("nils@example.com", "5.2.2", "smtp; 552 5.2.2 Mailbox full")], bounce_type="Transient", subtype="MailboxFull"),
        [("nils@example.com", "5.2.2", "mailboxfull", False)])
    add("amazonses", ses("Bounce", [("otto@example.com", "5.1.1", "Amazon SES did not send the message to this address because it is on the suppression list for your account.")], subtype="OnAccountSuppressionList"),
        [("otto@example.com", "5.1.1", "userunknown", True)])
    add("amazonses", ses("Complaint", [("pam@example.com",)], feedback="abuse"),
        [("pam@example.com", "", "feedback", False, "abuse")])
    add("amazonses", ses("Bounce", [("rick@example.com", "5.7.1", "smtp; 550 5.7.1 Message rejected due to content restrictions: spam")], subtype="ContentRejected"),
        [("rick@example.com", "5.7.1", "spamdetected", False)])

    # ---- SendGrid, Mailgun, Postmark: their MTAs' DSNs
    add("sendgrid", rfc3464("smtp.sendgrid.net", "Mail Delivery Subsystem", "mailer-daemon@sendgrid.net", "Undelivered Mail Returned to Sender",
                            "This is an automatically generated message from SendGrid.\n\nI'm sorry to have to tell you that your message was not able to be\ndelivered to one of its intended recipients.\n\nIf you require assistance with this, please contact SendGrid support.\n\nsue@example.com: 550 5.1.1 <sue@example.com>: Recipient address rejected: User unknown in local recipient table",
                            [("sue@example.com", "failed", "5.1.1", "550 5.1.1 <sue@example.com>: Recipient address rejected: User unknown in local recipient table")]),
        [("sue@example.com", "5.1.1", "userunknown", True)])
    add("sendgrid", rfc3464("smtp.sendgrid.net", "Mail Delivery Subsystem", "mailer-daemon@sendgrid.net", "Undelivered Mail Returned to Sender",
                            "This is an automatically generated message from SendGrid.\n\nI'm sorry to have to tell you that your message was not able to be\ndelivered to one of its intended recipients.",
                            [("ted@example.org", "failed", "5.7.1", "550 5.7.1 [192.0.2.10] Message rejected: sender IP has a poor reputation. See https://www.example.org/rbl")]),
        [("ted@example.org", "5.7.1", "badreputation", False)])
    add("mailgun", rfc3464("mxa.mailgun.org", "Mailgun", "postmaster@mg.shop.example", "Delivery Status Notification (Failure)",
                           "Your message was not delivered to ulla@example.net because the address does not exist.",
                           [("ulla@example.net", "failed", "5.1.1", "550 5.1.1 Mailbox does not exist")]),
        [("ulla@example.net", "5.1.1", "userunknown", True)])
    add("mailgun", rfc3464("mxa.mailgun.org", "Mailgun", "postmaster@mg.shop.example", "Delivery Status Notification (Failure)",
                           "Your message was not delivered: too many messages were sent to this domain in a short time.",
                           [("vic@example.net", "failed", "4.7.0", "421 4.7.0 Try again later, closing connection. Rate limited: too many messages per hour from your IP")]),
        [("vic@example.net", "4.7.0", "speeding", False)])
    add("postmark", rfc3464("pm-mta.mtasv.net", "Postmark", "bounces@pm-bounces.shop.example", "Undelivered Mail",
                            "Your message could not be delivered. The recipient's server said the domain does not accept mail.",
                            [("wil@parked.example", "failed", "5.1.10", "556 5.1.10 Recipient address has null MX")]),
        [("wil@parked.example", "5.1.10", "notaccept", True)])
    add("postmark", rfc3464("pm-mta.mtasv.net", "Postmark", "bounces@pm-bounces.shop.example", "Undelivered Mail",
                            "The message could not be delivered: the remote server requires an encrypted connection.",
                            [("xav@example.com", "failed", "5.7.10", "530 5.7.10 Encryption needed: TLS is required for mail to this domain")]),
        [("xav@example.com", "5.7.10", "securityerror", False)])

    # ---- Zoho, GMX, Orange
    add("zoho", rfc3464("mx.zoho.example", "Mail Delivery System", "mailer-daemon@mail.zoho.example", "Undelivered Mail Returned to Sender",
                        "This message was created automatically by mail delivery software.\nA message that you sent could not be delivered to one or more of its recipients.\n\nyan@example.com Invalid Address, ERROR_CODE :550, ERROR_CODE :5.1.1 <yan@example.com>... No such user",
                        [("yan@example.com", "failed", "5.1.1", "550 5.1.1 <yan@example.com>... No such user")]),
        [("yan@example.com", "5.1.1", "userunknown", True)])
    add("zoho", rfc3464("mx.zoho.example", "Mail Delivery System", "mailer-daemon@mail.zoho.example", "Undelivered Mail Returned to Sender",
                        "A message that you sent could not be delivered to one or more of its recipients.\n\nzia@example.in Mailbox quota exceeded",
                        [("zia@example.in", "failed", "5.2.2", "552 5.2.2 Mailbox quota exceeded for this recipient")]),
        [("zia@example.in", "5.2.2", "mailboxfull", False)])
    add("gmx", f"""
From: Mail Delivery System <mailer-daemon@gmx.example>
To: {VERP}
Subject: Mail delivery failed: returning message to sender
Date: {DATE}
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Dies ist eine automatisch erstellte Benachrichtigung über den Zustellstatus.
Die Nachricht konnte nicht an alle Empfänger zugestellt werden.

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of
its recipients. This is a permanent error. The following address(es)
failed:

anke@example.de:
SMTP error from remote server for RCPT TO command, host: mx.example.de (192.0.2.50) reason: 550 5.1.1 Benutzer unbekannt / user unknown

--- The header of the original message is following. ---

{original("anke@example.de")}
""", [("anke@example.de", "5.1.1", "userunknown", True)])
    add("gmx", f"""
From: Mail Delivery System <mailer-daemon@gmx.example>
To: {VERP}
Subject: Mail delivery failed: returning message to sender
Date: {DATE}
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of
its recipients. This is a permanent error. The following address(es)
failed:

bernd@example.de:
SMTP error from remote server for RCPT TO command, host: mx.example.de (192.0.2.50) reason: 552 5.2.2 Das Postfach des Empfängers ist voll / mailbox full

--- The header of the original message is following. ---

{original("bernd@example.de")}
""", [("bernd@example.de", "5.2.2", "mailboxfull", False)])
    add("orange", rfc3464("mwinf5c12.orange.example", "Mail Delivery System", "mailer-daemon@orange.example", "Echec de remise du message",
                          "Ceci est un message automatique. Votre message n'a pas pu être remis au destinataire suivant :\n\nclaire@orange.example",
                          [("claire@orange.example", "failed", "5.1.1", "550 5.1.1 Adresse d au moins un destinataire invalide. Invalid recipient. OFR_416 [416]")]),
        [("claire@orange.example", "5.1.1", "userunknown", True)])
    add("orange", rfc3464("mwinf5c12.orange.example", "Mail Delivery System", "mailer-daemon@orange.example", "Echec de remise du message",
                          "Ceci est un message automatique. Votre message n'a pas pu être remis : boîte du destinataire pleine.",
                          [("denis@orange.example", "failed", "5.2.2", "552 5.2.2 Boite du destinataire pleine. Recipient overquota. OFR_417 [417]")]),
        [("denis@orange.example", "5.2.2", "mailboxfull", False)])
    add("orange", rfc3464("mwinf5c12.orange.example", "Mail Delivery System", "mailer-daemon@orange.example", "Echec de remise du message",
                          "Ceci est un message automatique. Votre message a été refusé.",
                          [("emile@orange.example", "failed", "5.7.1", "550 5.7.1 Service refuse. Veuillez essayer plus tard. Votre adresse IP est listee sur une liste noire. OFR_999 [999]")]),
        [("emile@orange.example", "5.7.1", "blocked", False)])

    # ---- RFC 3464 from other MTAs: delays, mixed results, multilingual texts
    add("rfc3464", rfc3464("mx.example.it", "Sistema di consegna", "postmaster@mx.example.it", "Messaggio non recapitabile",
                           "Il messaggio non è stato recapitato ai seguenti destinatari:\n\nfabio@example.it: utente sconosciuto\ngaia@example.it: casella piena",
                           [("fabio@example.it", "failed", "5.1.1", "550 5.1.1 Utente sconosciuto / user unknown"),
                            ("gaia@example.it", "failed", "5.2.2", "552 5.2.2 Casella piena / mailbox full")]),
        [("fabio@example.it", "5.1.1", "userunknown", True), ("gaia@example.it", "5.2.2", "mailboxfull", False)])
    add("rfc3464", rfc3464("mx.example.es", "Sistema de entrega", "postmaster@mx.example.es", "Mensaje no entregado",
                           "No se pudo entregar el mensaje a los siguientes destinatarios:\n\nhector@example.es: el buzón está lleno",
                           [("hector@example.es", "failed", "5.2.2", "552 5.2.2 El buzón del destinatario está lleno")]),
        [("hector@example.es", "5.2.2", "mailboxfull", False)])
    add("rfc3464", rfc3464("mx.example.nl", "Mail Delivery System", "postmaster@mx.example.nl", "Onbestelbaar: Uw bestelling",
                           "Uw bericht kon niet worden bezorgd aan de volgende ontvangers:\n\nivo@example.nl: onbekende gebruiker",
                           [("ivo@example.nl", "failed", "5.1.1", "550 5.1.1 Onbekende gebruiker / no such user")]),
        [("ivo@example.nl", "5.1.1", "userunknown", True)])
    add("rfc3464", rfc3464("mx.example.com.br", "Sistema de Entrega", "postmaster@mx.example.com.br", "Mensagem não entregue",
                           "Sua mensagem não pôde ser entregue aos seguintes destinatários:\n\njulia@example.com.br: usuário desconhecido",
                           [("julia@example.com.br", "failed", "5.1.1", "550 5.1.1 Usuario desconhecido / user unknown")]),
        [("julia@example.com.br", "5.1.1", "userunknown", True)])
    add("rfc3464", rfc3464("mx.example.jp", "Mail Delivery System", "postmaster@mx.example.jp", "配信エラー",
                           "次の宛先へのメールは配信できませんでした。\n\nkenta@example.jp: 宛先不明 (user unknown)",
                           [("kenta@example.jp", "failed", "5.1.1", "550 5.1.1 <kenta@example.jp>: User unknown")]),
        [("kenta@example.jp", "5.1.1", "userunknown", True)])
    add("rfc3464", rfc3464("mx.example.com", "Mail Delivery System", "MAILER-DAEMON@mx.example.com", "Delivery Status Notification (Delay)",
                           "This is an automatically generated Delivery Status Notification.\n\nTHIS IS A WARNING MESSAGE ONLY.\n\nYOU DO NOT NEED TO RESEND YOUR MESSAGE.\n\nDelivery to the following recipients has been delayed.\n\n       lars@example.com",
                           [("lars@example.com", "delayed", "4.4.7", "")]),
        [("lars@example.com", "4.4.7", "delayed", False)])
    add("rfc3464", rfc3464("mx.example.com", "Mail Delivery System", "MAILER-DAEMON@mx.example.com", "Delivery Status Notification (Failure)",
                           "Delivery to the following recipients failed.\n\n       mara@example.com\n       nico@example.com",
                           [("mara@example.com", "failed", "5.0.0", "550 Requested action not taken: mailbox unavailable, no such user here"),
                            ("nico@example.com", "failed", "5.0.0", "554 Transaction failed: the connection to the remote host was lost")]),
        # no X.1.1 and no command named: the words alone are no proof ("filtered")
        [("mara@example.com", "5.0.0", "filtered", False), ("nico@example.com", "5.0.0", "networkerror", False)])
    add("rfc3464", rfc3464("mx.example.com", "Mail Delivery System", "MAILER-DAEMON@mx.example.com", "Delivery Status Notification (Failure)",
                           "Delivery to the following recipient failed permanently:\n\n       oli@example.com",
                           [("oli@example.com", "failed", "5.0.0", "550 Message rejected: the recipient's mail server forwarded it to an address that refused it (forwarding rule). The original mailbox is fine.")]),
        [("oli@example.com", "5.0.0", "filtered", False)])

    # ---- Delays and warnings from Exchange and others (no bounce)
    add("exchange", f"""
From: Microsoft Outlook <postmaster@corp.example.com>
To: {VERP}
Subject: Delivery delayed: Your order
Date: {DATE}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="DL1"

--DL1
Content-Type: text/plain; charset=utf-8

Delivery is delayed to these recipients or groups:

petra@example.com

This message hasn't been delivered yet. Delivery will continue to be attempted.

The server will keep trying to deliver this message for the next 1 days, 19 hours and 53 minutes. You'll be notified if the message can't be delivered by that time.

--DL1
Content-Type: message/delivery-status

Reporting-MTA: dns;EXCH01.corp.example.com

Final-Recipient: rfc822;petra@example.com
Action: Delayed
Status: 4.4.7
X-Display-Name: Petra

--DL1--
""", [("petra@example.com", "4.4.7", "delayed", False)])

    # ---- Complaints (ARF)
    add("arf", arf("AOL SComp", "abuse", "quirin@aol.example"), [("quirin@aol.example", "", "feedback", False, "abuse")])
    add("arf", arf("Yahoo!-Mail-Feedback", "abuse", "rita@yahoo.example", with_rcpt_field=False),
        [("rita@yahoo.example", "", "feedback", False, "abuse")])
    add("arf", arf("Mail.ru FBL", "abuse", "sven@mail.example", extra_headers="Auto-Submitted: auto-replied\nPrecedence: auto_reply\n"),
        [("sven@mail.example", "", "feedback", False, "abuse")])
    add("arf", f"""
From: staff@hotmail.example
To: fbl@shop.example
Subject: complaint about message from 192.0.2.10
Date: {DATE}
MIME-Version: 1.0
Content-Type: message/rfc822

X-HmXmrOriginalRecipient: <tanja@hotmail.example>
{original("tanja@hotmail.example")}
Weekly offers.
""", [("tanja@hotmail.example", "", "feedback", False, "abuse")])

    # ---- Auto-replies in several languages
    replies = [
        ("en", "Ulrike <ulrike@example.com>", "Automatic reply: Your order", "Thank you for your email. I am out of the office until Monday 18 March with limited access to email. I will respond when I return.", "Auto-Submitted: auto-replied\nX-MS-Exchange-Inbox-Rules-Loop: ulrike@example.com\n"),
        ("de", "Volker <volker@example.de>", "Abwesenheitsnotiz: Ihre Bestellung", "Vielen Dank für Ihre Nachricht. Ich bin bis zum 18.03. nicht im Büro und habe keinen Zugriff auf meine E-Mails. In dringenden Fällen wenden Sie sich bitte an info@example.de.", ""),
        ("de", "Wiebke <wiebke@example.de>", "Automatische Antwort: Ihre Bestellung", "Ich bin derzeit im Urlaub und ab dem 25. März wieder erreichbar.", "X-Auto-Response-Suppress: All\n"),
        ("fr", "Xavier <xavier@example.fr>", "Réponse automatique : Votre commande", "Bonjour, je suis absent du bureau jusqu'au 18 mars. Je vous répondrai dès mon retour.", ""),
        ("fr", "Yvette <yvette@example.fr>", "Absence du bureau", "Je suis actuellement en congés, avec un accès limité à mes e-mails.", "Auto-Submitted: auto-replied\n"),
        ("es", "Zoila <zoila@example.es>", "Respuesta automática: Su pedido", "Gracias por su mensaje. Estoy fuera de la oficina hasta el lunes y responderé a mi regreso.", ""),
        ("it", "Alba <alba@example.it>", "Risposta automatica: Il suo ordine", "Grazie per il messaggio. Sono fuori ufficio fino al 18 marzo con accesso limitato alla posta.", ""),
        ("it", "Bruno <bruno@example.it>", "Fuori sede", "Sono in ferie fino al 25 marzo. Risponderò al mio rientro.", "Auto-Submitted: auto-replied\n"),
        ("nl", "Cees <cees@example.nl>", "Automatisch antwoord: Uw bestelling", "Bedankt voor uw bericht. Ik ben afwezig tot en met 18 maart en lees mijn e-mail niet.", ""),
        ("nl", "Dirk <dirk@example.nl>", "Afwezig: Uw bestelling", "Ik ben op vakantie en vanaf maandag weer bereikbaar.", "X-Autoreply: yes\n"),
        ("pt", "Elisa <elisa@example.com.br>", "Resposta automática: Seu pedido", "Obrigada pela mensagem. Estou fora do escritório até 18 de março e responderei assim que voltar.", ""),
        ("pt", "Fabio <fabio@example.pt>", "Ausente do escritório", "Estou de férias até dia 25. Responderei quando regressar.", "Auto-Submitted: auto-replied\n"),
        ("ja", "田中 <tanaka@example.jp>", "自動応答: ご注文ありがとうございます", "メールありがとうございます。3月18日まで不在にしております。戻り次第ご連絡いたします。", ""),
        ("ja", "鈴木 <suzuki@example.jp>", "不在通知", "ただいま休暇中のため、メールを確認できません。", "Auto-Submitted: auto-replied\n"),
        ("en", "Gwen <gwen@example.com>", "Out of Office: Your order", "I'm on vacation until March 25th. For urgent matters contact support@example.com.", ""),
    ]
    for lang, sender, subject, body, headers in replies:
        add("autoreply", autoreply(sender, subject, body, headers, lang),
            [(sender.split("<")[1].rstrip(">"), "", "vacation", False)])

    # ---- More documented wordings: Sendmail's unknown host, Exim's null MX, Google Groups
    add("sendmail", sendmail([("jo@nonexistent.example", "5.1.2", "550 5.1.2 <jo@nonexistent.example>... Host unknown (Name server: nonexistent.example: host not found)", "")]),
        [("jo@nonexistent.example", "5.1.2", "hostunknown", True)])
    add("exim", exim([("kit@parked.example", "an MX or SRV record indicated no SMTP service")]),
        [("kit@parked.example", "", "notaccept", True)])
    add("exim", exim([("lia@example.edu", "host mx.example.edu [192.0.2.34]\n    SMTP error from remote mail server after end of data:\n    552 5.6.0 Headers too large (32768 max)")]),
        [("lia@example.edu", "5.6.0", "contenterror", False)])
    add("googlegroups", f"""
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: {VERP}
Subject: Address not found
Date: {DATE}
Auto-Submitted: auto-replied
X-Failed-Recipients: shop-team@googlegroups.com
Content-Type: text/plain; charset=UTF-8

Hello shop@shop.example,

We're writing to let you know that the group you tried to contact (shop-team) may not exist, or you may not have permission to post messages to the group. A few more details on why you weren't able to post:

 * You might have spelled or formatted the group name incorrectly.
 * The owner of the group may have removed this group.
 * You may need to join the group before receiving permission to post.
 * This group may not be open to posting.

If you have questions related to this or any other Google Group, visit the Help Center at https://groups.google.com/support/.

Thanks,

Google Groups
""", [("shop-team@googlegroups.com", "", "rejected", False)])
    add("rfc3464", rfc3464("mx.example.org", "Mail Delivery System", "MAILER-DAEMON@mx.example.org", "Delivery Status Notification (Failure)",
                           "Delivery to the following recipient failed permanently:\n\n       mo@example.org\n\nThe remote server said the connection was refused.",
                           [("mo@example.org", "failed", "5.4.1", "Unable to connect to mx.example.org: connection refused")]),
        [("mo@example.org", "5.4.1", "networkerror", False)])

    # ---- Not bounces: a customer writing about an undelivered parcel, and a plain reply
    add("notbounce", f"""
From: Hanna Berg <hanna@example.com>
To: {SHOP}
Subject: Re: Your order #1042
Date: {DATE}
Content-Type: text/plain; charset=utf-8

Hello, my parcel was not delivered yet and the tracking page says the delivery has failed twice.
Could you please send it again? Thanks, Hanna
""", [("", "", "notbounce", False)])
    add("notbounce", f"""
From: Igor <igor@example.org>
To: {SHOP}
Subject: Question about sizes
Date: {DATE}
Content-Type: text/plain; charset=utf-8

Hi, is the rain jacket available in XL? I returned the last one because it was too small.
""", [("", "", "notbounce", False)])


def main(out: Path = HERE) -> None:
    global OUT
    OUT = out / "messages"
    rows.clear()
    counts.clear()
    if OUT.exists():
        for old in OUT.glob("*.eml"):
            old.unlink()
    build()
    with open(out / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["file", "rcpt_index", "status", "reply", "reason", "hardbounce",
                                     "feedback_type", "address"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"{sum(counts.values())} messages, {len(rows)} labelled rows, {len(counts)} sources")


if __name__ == "__main__":
    main()
