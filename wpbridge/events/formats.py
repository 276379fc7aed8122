"""How reports look when they are not (only) the RFC formats: the marks that tell a bounce,
an auto-reply or a complaint from ordinary mail, and where the returned copy begins.

Each table is data for :mod:`wpbridge.events.bounces`; supporting another MTA's wording is
one more row. Patterns are matched case-insensitively.
"""

from __future__ import annotations

import re

_I = re.IGNORECASE | re.MULTILINE

# Local parts and display names of the systems that send bounces.
DAEMON_SENDER = re.compile(
    r"^(?:mailer-?daemon|mail-?daemon|postmaster|post_master|poostmaster|mail\.delivery\.system|"
    r"mail-?delivery(?:-?(?:system|subsystem))?|bounces?|bounce-notification|mdaemon|"
    r"mail(?:er)?-?(?:delivery|admin)|double-bounce|mailadmin|"
    # mailing-list managers answering a post they refused
    r"[\w.-]+-(?:admin|owner|bounces?)|owner-[\w.-]+)$", re.I)
DAEMON_NAME = re.compile(
    r"mail delivery (?:sub)?system|mailer[- ]daemon|mail administrator|postmaster|"
    r"system administrator|delivery status|internet mail delivery|mail deliver system", re.I)

# Subjects of non-delivery reports in several languages.
BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (?:status )?(?:notification|failure|failed|report|has failed|"
    r"problem)|"
    r"(?:failure|failed|returned|rejected) (?:notice|delivery|mail)|delivery failure|"
    r"failure delivery|"
    r"mail delivery failed|returned mail|returning message to sender|non[- ]?deliver|nondeliver|"
    r"could not (?:be )?deliver|mail system error|delivery notification|not (?:be )?delivered|"
    r"delayed mail|warning: could not|message (?:not delivered|delayed|status)|unzustellbar|"
    r"non remis|non recapitabile|no entregado|onbestelbaar|недоставлен|配信(?:エラー|失敗|不能)|不達|"
    r"error sending|"
    r"mail failure|^(?:fw: )?failure|see transcript|postmaster notify|returned to sender|"
    r"bounce|could not send", _I)

# First lines of the human-readable text of bounces whose senders add no DSN.
BOUNCE_BODY = re.compile(
    r"this is the (?:qmail-send|mail delivery|postfix) (?:program|system|agent)|"
    r"this message was created automatically by mail delivery software|"
    r"(?:could not|couldn'?t|unable to|wasn'?t able to|were unable to) (?:be )?deliver(?:ed)?|"
    r"delivery (?:to the following recipients? (?:failed|has been delayed)|has failed|failed)|"
    r"(?:message|mail) (?:could not|can ?not|was not|couldn'?t) be delivered|"
    r"the following (?:addresses|recipients?|address\(es\)) (?:had|failed|could not|cannot|was|"
    r"were)|"
    r"permanent(?:ly)? (?:fatal )?(?:error|failure|failed)|undeliverable|non-?delivery|"
    r"returned mail|transcript of session follows|delivery status notification|"
    r"your message (?:did not reach|wasn'?t delivered|could not|has been (?:returned|rejected|"
    r"blocked))|"
    r"failed to deliver|i'?m afraid i wasn'?t able|the original message was received at|"
    r"(?:mail|message) delivery (?:has )?failed|error (?:transferring|delivering)|"
    r"delivery has been delayed|was not delivered|has not been delivered|"
    r"user unknown|no such user|host unknown|mailbox (?:is )?full", _I)

# A line where the returned copy of the original message starts; the report's own words end.
ORIGINAL_START = re.compile(
    r"\s*(?:[-=_*>]{2,}.{0,20})?(?:below this line is a copy of the message|"
    r"(?:this is a )?copy of (?:the |your )?(?:original )?message|original message(?: headers|"
    r" follows)?|"
    r"(?:the )?(?:headers? of the )?original message(?: headers)?|unsent message below|"
    r"returned (?:message|mail|content)|undelivered message (?:attached|headers)|"
    r"(?:original|returned) (?:message )?headers?|message header follows|"
    r"the header of the original message|included is a copy of the message header|"
    r"the text you sent follows|your message (?:reads|follows)|"
    r"original (?:mail|message)(?: text)? (?:as follows|follows|below|is attached)|"
    r"(?:the )?(?:original )?message headers? (?:follows?|(?:is|are) following|below)|"
    r"(?:the )?headers? of (?:the|your) (?:original|returned) message(?: (?:is|are) following|"
    r" follows?)?|"
    r"原文|元のメッセージ|исходное сообщение)[-:= .]*$|"
    r"content-type: (?:message/rfc822|text/rfc822-headers)", re.I)
# A header block of the returned message, when no separator line announces it.
HEADER_BLOCK = re.compile(
    r"^(?:return-path|received|dkim-signature|x-received|authentication-results|arc-seal|"
    r"delivered-to):[ \t]", _I)

# Lines that name a report's own plumbing, not a recipient.
NOT_A_RECIPIENT_LINE = re.compile(
    r"^\s*(?:message-id|in-reply-to|references|from|sender|reply-to|return-path|"
    r"reporting-mta|received-from-mta|arrival-date|x-postfix-sender|received|date|"
    r"original-envelope-id|subject|x-[\w-]*(?:id|sender)):", re.I)

# A bounce's own words that delivery has failed for good: a delay warning never says so.
PERMANENT = re.compile(r"permanent(?:ly)? (?:fatal )?(?:error|failure|failed)|"
                       r"(?:i'?ve|has been|have) given up|could not be delivered to one or more|"
                       r"this is a permanent", re.I)

# Where the returned message says whom it was for, when the report names no one.
ORIGINAL_RECIPIENT = ("x-original-to", "delivered-to", "envelope-to", "to", "cc")

# Warnings that delivery is late but still being tried (subject or preamble).
DELAYED = re.compile(r"\bdelay|will (?:continue|keep) (?:to )?(?:retry|try)|still being retried|"
                     r"warning: could not|temporary failure report|is kept in the queue", re.I)

# Lines that repeat the returned message's headers or name an address a recipient was
# expanded from: their addresses are recipients only when no other line names one.
SUMMARY_LINE = re.compile(r"^\s*(?:to|cc|addressed to|original-recipient)\s*:|expanded from|"
                          r"forwarded from|aliased from", re.I)

# Role accounts named in help text ("contact postmaster@...") rather than as recipients.
ROLE_LOCALPARTS = frozenset({"postmaster", "mailer-daemon", "abuse", "hostmaster", "root"})

# The SMTP command a server was answering when it refused, in the words each MTA reports it
# with (see :func:`wpbridge.events.bounces._command`: the mention nearest before the refusal
# wins, else the first after it, as Postfix writes "(in reply to RCPT TO command)" last).
# ``None`` takes the command from the pattern's group. "local" when the reporting system
# decided by itself, with no SMTP dialogue: a DSN Diagnostic-Code of type X-Notes,
# X-Postfix, ..., a local delivery agent, or the mailbox system's own directory.
SMTP_COMMAND_ROWS: tuple[tuple[str | None, tuple[str, ...]], ...] = (
    ("local", (
        r"^x-(?!unix)[\w-]+ ?;",
        # local delivery agents: mail.local (Sendmail), Postfix local(8), vpopmail, Dovecot LDA
        r"\bmail\.local:", r"delivery via local\b", r"\bvdeliver(?:mail)?:", r"dovecot-lda",
        # the mailbox system's directory: Exchange 5.5-2003, Lotus Domino/Notes, IMail
        r"the recipient name is not recognized",
        r"not (?:listed|found) in (?:the |our |my )?(?:[\w&]+ ){0,3}(?:directory|address book)",
        r"ディレクトリ", r"invalid final delivery userid",
    )),
    (None, (
        # Postfix: "(in reply to RCPT TO command)", "(in reply to end of DATA command)"
        r"in reply to (?:the )?(?:end of )?(data|rcpt to|mail from|ehlo|helo|rset|quit)\b",
        # Exim: "SMTP error from remote mail server after RCPT TO:<...>", "after pipelined
        # end of data"; GMX: "SMTP error from remote server after RCPT command"
        r"after (?:the )?(?:pipelined )?(?:end of )?(data|rcpt to|mail from|ehlo|helo)\b",
        r"after (rcpt|mail|data) command",
        # Sendmail and Courier transcripts: ">>> RCPT To:<...>" then "<<< 550 ..."
        r">>> ?(data|rcpt to|mail from|ehlo|helo)\b",
        # Yahoo "[RCPT_TO]", mFilter "SMTP command DATA", X3 "smtp:rcpt", DragonFly "did not
        # like our RCPT TO", qmail "most progress was RCPT TO response"
        r"\[(rcpt_to|mail_from|data)\]", r"in (rcpt to|mail from|data) (?:phase|stage)",
        r"smtp command:? ?(data|rcpt to|mail from|ehlo|helo)\b", r"smtp:(rcpt|mail|data)\b",
        r"did not like our (rcpt to|mail from|data)\b",
        r"most progress was (rcpt to|mail from|data)\b",
        r"for (rcpt to|mail from|data) command",
    )),
    ("rcpt to", (
        r"does not like recipient", r"rcpt to:? ?<?[^>\s]+>?:? ?(?:rejected|failed|refused)",
        r"during rcpt",
    )),
    # Any other naming of the command: RCPT is no word of ordinary text
    ("rcpt to", (r"\brcpt(?:\b|_)",)),
    ("mail from", (r"does not like sender", r"sender was rejected", r"during mail from")),
    ("data", (
        # qmail-remote: "failed after I sent the message", "failed on DATA command"
        r"after i sent the message", r"failed on data command", r"during data",
        r"after end of data",
    )),
    ("connect", (r"after initial connection", r"greeting failed", r"refused to talk to me",
                 r"during (?:connection|helo|ehlo)")),
)


def compile_commands(rows) -> tuple[tuple[re.Pattern[str], str | None], ...]:
    return tuple((re.compile("|".join(f"(?:{p})" for p in patterns), re.I), command)
                 for command, patterns in rows if patterns)


SMTP_COMMAND = compile_commands(SMTP_COMMAND_ROWS)

# RFC 3834 auto-replies. One of these headers decides; weak hints (the subject, the body,
# the headers in AUTOREPLY_HINT_HEADERS) only count two at a time.
AUTOREPLY_HEADERS = (
    ("auto-submitted", re.compile(r"^\s*auto-replied", re.I)),
    ("x-autoreply", re.compile(r"^\s*(?:yes|true|1)", re.I)),
    ("x-autorespond", re.compile(r".", re.I)),
    ("x-autoresponder", re.compile(r".", re.I)),
    ("x-mail-autoreply", re.compile(r".", re.I)),
    ("x-autogenerated", re.compile(r"reply", re.I)),
    ("precedence", re.compile(r"auto[-_]?reply", re.I)),
    ("x-apple-action", re.compile(r"vacation", re.I)),
)
AUTOREPLY_HINT_HEADERS = (
    ("auto-submitted", re.compile(r"^\s*auto-", re.I)),
    ("x-ms-exchange-inbox-rules-loop", re.compile(r".", re.I)),
)
# Subjects and bodies of out-of-office answers in the languages WordPress shops write in:
# en, de, fr, es, it, nl, pt, ja.
AUTOREPLY_SUBJECT = re.compile(
    r"auto(?:matic|matische|matisch)?[- _]?(?:reply|replied|response|answer|antwort|antwoord)|"
    r"autoreply|out of (?:the )?office|vacation|away (?:from|until)|abwesen|urlaub|"
    r"nicht im büro|r[ée]ponse automatique|absen(?:t|te|ce) du bureau|message d'absence|"
    r"respuesta autom[áa]tica|fuera de (?:la )?oficina|ausente|risposta automatica|"
    r"fuori (?:sede|ufficio)|assente|automatisch antwoord|afwezig|niet op kantoor|"
    r"resposta autom[áa]tica|fora do escrit[óo]rio|aus[êe]ncia|自動返信|自動応答|不在", re.I)
AUTOREPLY_BODY = re.compile(
    r"(?:i am|i'?m|i will be) (?:currently |now )?(?:out of (?:the )?office|away|on (?:vacation|"
    r"holiday|leave)|"
    r"traveling|travelling|not in the office)|"
    r"(?:return|back) (?:to the office )?on|limited access to (?:e-?mail|my mail)|"
    r"will (?:respond|reply|get back to you) (?:to you )?(?:upon|when|as soon)|"
    r"nicht im büro|im urlaub|abwesend|keinen zugriff auf (?:meine )?e-?mails|wieder erreichbar|"
    r"je suis (?:absente?|en cong[ée]s?)|d[èe]s mon retour|acc[èe]s limit[ée]|"
    r"fuera de la oficina|estoy de vacaciones|a mi regreso|"
    r"fuori (?:sede|ufficio)|sono in ferie|al mio rientro|accesso limitato|"
    r"ik ben (?:afwezig|op vakantie|met vakantie)|weer bereikbaar|"
    r"fora do escrit[óo]rio|estou (?:de f[ée]rias|ausente)|assim que (?:voltar|regressar)|"
    r"quando regressar|"
    r"不在にして|休暇中|戻り次第", re.I)

# Complaint reports that are not RFC 5965 multipart/report (older feedback loops).
COMPLAINT_SUBJECT = re.compile(
    r"complaint about message|abuse report|spam report|feedback (?:loop|report)|junk report", re.I)
COMPLAINT_ORIGINAL_RECIPIENT = ("x-hmxmroriginalrecipient", "x-original-rcpt-to")
