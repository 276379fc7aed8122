"""What receiving servers say, and what it means: diagnostic texts -> :class:`Reason`.

The texts are the wording of real MTAs and mailbox providers (Postfix, Sendmail, Exim,
qmail, Exchange and Office 365, Gmail, Yahoo, ...), lower-cased and with runs of white
space folded to one space before matching. Two tables, tried in this order by
:func:`wpbridge.events.bounces.classify_reply`:

- :data:`SPECIFIC` phrases say plainly what happened and beat the enhanced status code,
  because many servers send a generic or wrong code (``550 5.7.1 ... mailbox is full``);
- :data:`GENERIC` phrases are the stock texts of a reply code (``mailbox unavailable``,
  ``access denied``); they only decide when the status code does not.

Within a table the first matching row wins, so rows that must beat others come first: the
sender's own problems (sender address, relay, authentication, blocklists) before the
recipient's, because their texts often also mention the recipient.
"""

from __future__ import annotations

import re

from wpbridge.events import Reason

_SPECIFIC_ROWS: tuple[tuple[Reason, tuple[str, ...]], ...] = (
    # Providers whose own wording means something else than it says.
    (Reason.FILTERED, (
        r"\b550 : user unknown",  # au (KDDI): the recipient's filter, not a missing user
    )),
    # A local delivery program failed; whatever it printed ("user unknown") is its own.
    (Reason.SYSTEM_ERROR, (
        r"command output:", r"command died", r"command failed:", r"procmail:", r"bin/procmail",
        r"maildrop:", r"bin/maildrop", r"pipe to \|", r"\|\| exit", r"mailer error", r"x-unix;",
    )),
    (Reason.VIRUS, (
        r"virus", r"malware", r"infected", r"potentially executable",
        r"executable (?:file|attachment|content)",
        r"(?:banned|forbidden|prohibited|illegal|dangerous|blocked) (?:file |attachment|file type)",
        r"attachment (?:type )?(?:is )?not (?:allowed|permitted)",
        r"phishing", r"malicious", r"content presents a potential security issue",
    )),
    (Reason.RELAY_DENIED, (
        r"relay(?:ing)? (?:access )?(?:denied|not (?:allowed|permitted))", r"no relaying",
        r"unable to relay", r"not (?:permitted|allowed) to relay", r"relaying mail to .* is not",
        r"not an open relay", r"we do not relay", r"(?:will|does|do) not relay",
        r"relay not permitted",
        r"insecure mail relay", r"as a relay", r"isn'?t in my list of allowed rcpthosts",
        r"not (?:configured|authori[sz]ed) to relay", r"relay(?:ing)? prohibited", r"not a gateway",
        r"mail server requires authentication when attempting to send to a non-local",
        r"we don'?t handle mail for",
    )),
    (Reason.AUTHENTICATION, (
        r"\bspf\b", r"sender policy framework", r"\bdkim\b", r"domainkeys?", r"\bdmarc\b",
        r"\barc (?:validation|signature)", r"authenticat(?:e|ion) (?:with|check)s?",
        r"fails? to pass authentication", r"(?:not|un)authenticated (?:email|mail|sender)",
        r"sender (?:domain )?(?:is not|not) (?:authenticated|verified)",
        r"authentication (?:required|failed|failure|credentials)", r"must authenticate",
        r"username and password not accepted", r"application-specific password",
        r"smtp auth", r"not authenticated to send", r"client was not authenticated",
        r"email address is not verified",
        r"not authori[sz]ed to send (?:email|mail)? ?(?:from|on behalf)",
        r"does not pass (?:dmarc|authentication)", r"outlook\.com.{0,40}requirements",
    )),
    (Reason.REVERSE_DNS, (
        r"reverse (?:dns|lookup|name|hostname)", r"\bptr\b", r"\brdns\b", r"in-addr\.arpa",
        r"cannot find your (?:host ?name|reverse)", r"(?:ip|host ?name) (?:name )?lookup failed",
        r"forward dns entry does not (?:point|match)", r"does not resolve to your ip",
        r"generic (?:dns|host ?name|ptr)", r"unresolvable relay host",
        r"helo .{0,60}(?:does not|doesn'?t) (?:resolve|match)",
        r"mismatches client ip", r"fix reverse",
    )),
    (Reason.SENDER_REJECTED, (
        r"sender address rejected", r"(?:provide|use) a valid from",
        r"from:? (?:header )?(?:domain|address) (?:is )?(?:invalid|not valid|missing)",
        r"sender (?:e-?mail )?address (?:is )?(?:invalid|not (?:valid|allowed|accepted)|rejected|"
        r"refused|has been blacklisted)",
        r"sender (?:is )?(?:rejected|refused|denied|not (?:allowed|permitted|accepted|"
        r"pre-?approved)|invalid|unknown|blacklisted|in my black ?list)",
        r"(?:bad|invalid|unknown|unverified|unroutable|rejected) (?:envelope )?sender",
        r"sender verif(?:y|ication) (?:failed|failure)", r"verification of sender",
        r"domain of sender (?:address )?.{0,80}(?:does not exist|not found|not resolve|has no)",
        r"sender (?:domain|address) (?:must exist|is empty|does not exist|not found|has no mx)",
        r"mail from .{0,40}(?:rejected|refused|not (?:allowed|accepted))", r"bogus mail from",
        r"(?:empty|null) (?:envelope )?senders? (?:is |are )?not (?:allowed|accepted)",
        r"no third-party dsns", r"returned mail not accepted", r"\bbatv\b", r"backscatter",
        r"fully qualified (?:e-?mail )?address required",
        r"can'?t determine purported responsible address",
        r"you are not allowed to post", r"not (?:a )?member", r"members-only list",
        r"closed mailing list",
        r"(?:the email address used to send your message|you) (?:is|are) not subscribed to",
        r"only (?:members|subscribers) (?:can|may) post",
        r"(?:permission|not allowed|not authori[sz]ed|not permitted) to post",
        r"not on the (?:list of )?allowed senders",
        r"emetteur invalide", r"mail from not owned by user", r"is not a registered gateway user",
    )),
    (Reason.MAILBOX_FULL, (
        r"mailbox (?:is )?(?:full|over ?(?:quota|capacity)|size limit exceeded|has exceeded|quota)",
        r"(?:mail|disk|storage|inbox|mailbox|user|account|folder|maildir|"
        r"recipient)(?:'s)? (?:is )?(?:now )?(?:temporarily )?(?:over|exceeded|exceeds|exceeding|"
        r"reached|has reached|has exceeded|out of)(?: (?:the|its|their|his|her|allowed|mailbox|"
        r"disk|storage|maximum|the allowed))* (?:quota|storage|space|capacity|limit|size)",
        r"over ?quota", r"quota (?:exceeded|violation|full|reached)",
        r"exceeded (?:the )?(?:storage|quota|disk)",
        r"full mailbox", r"mailbox full", r"inbox is full", r"mailfolder is full",
        r"storage (?:is )?full",
        r"(?:insufficient|not (?:sufficient|enough)) (?:disk|storage)? ?space", r"no space left",
        r"does not have enough space", r"(?:user'?s? )?space has been used up",
        r"boite du destinataire pleine",
        r"too much mail data", r"too many messages (?:on the server|in (?:the|this) mailbox)",
        r"exceeding (?:its|the) mailbox quota", r"diskspace quota", r"disc quota",
        r"would exceed (?:the )?(?:maximum allowed storage|quota|mailbox)",
        r"почтовый ящик (?:переполнен|полон)", r"переполнен",
        # fr, de, es, it, pt, nl, ja
        r"bo[iî]te(?: aux lettres| de r[ée]ception| mail)? (?:du destinataire )?(?:est )?pleine",
        r"postfach (?:des empf[äa]ngers )?(?:ist )?(?:voll|[üu]berf[üu]llt)",
        r"speicherplatz (?:ist )?(?:voll|ersch[öo]pft|[üu]berschritten)",
        r"buz[óo]n (?:de correo )?(?:est[áa] )?(?:lleno|completo)",
        r"casella (?:di posta )?(?:è |e )?piena",
        r"caixa (?:postal|de correio|de entrada) (?:est[áa] )?(?:cheia|lotada)",
        r"(?:mailbox|postvak|postbus) (?:is )?vol\b",
        r"メールボックス.{0,12}(?:一杯|いっぱい|容量)", r"容量(?:オーバー|超過)",
    )),
    (Reason.CONTENT, (
        r"headers? (?:are |is )?(?:too (?:large|long|big|many)|size exceeds|exceed)",
        r"(?:too many|duplicate) headers", r"header size", r"header (?:name )?limit",
    )),
    (Reason.TOO_BIG, (
        r"(?:message|mail|email|e-mail)(?: file)? (?:size |length )?(?:is )?(?:too (?:big|large|"
        r"long)|exceeds|exceeded|over)",
        r"(?:size|length) (?:limit|exceeds|exceeded)",
        r"exceeds? (?:the )?(?:maximum|max|fixed|administrative|size)",
        r"max(?:imum)? message size", r"too large for this", r"message (?:is )?larger than",
        r"line (?:limit|length) exceeded", r"line too long", r"taille limite",
        r"exceeded maximum inbound message size",
    )),
    (Reason.SUSPENDED, (
        r"(?:account|mailbox|user|address|recipient)(?: is| has been)? (?:currently |temporarily |"
        r"been )*(?:suspended|disabled|deactivated|inactive|frozen|locked|"
        r"blocked by the administrator|closed|terminated|archived|expired|discontinued|on hold)",
        r"(?:suspended|disabled|deactivated|inactive|frozen|locked|archived|expired|closed|"
        r"terminated) (?:account|mailbox|user|recipient)",
        r"mailbox (?:currently )?(?:disabled|suspended|unavailable or access denied)",
        r"is a deactivated mailbox", r"not (?:an )?active (?:account|address|mailbox|user)",
        r"user not active", r"temporarily inactive", r"suspend the service",
        r"user (?:is )?terminated",
        r"due to (?:extended )?inactivity", r"account (?:has been )?(?:disabled|discontinued)",
        r"boite du destinataire archivee", r"no longer (?:active|in use|available)",
        r"mailbox is inactive", r"this account is not (?:active|in use)",
        r"(?:compte|account) (?:du destinataire )?(?:est |is |has been )?(?:bloque|blocked|locked)",
        r"account .{0,40}(?:is|has been) (?:currently |temporarily )?(?:disabled|suspended|"
        r"deactivated|inactive|locked|frozen)",
    )),
    (Reason.HAS_MOVED, (
        r"has been replaced by", r"(?:mailbox|address|user) has moved", r"moved (?:permanently|to)",
        r"no longer (?:at|with|works? (?:at|for)|employed)", r"no forwarding address",
        r"owner has changed",
    )),
    (Reason.FILTERED, (
        r"refused (?:due to|by) recipient", r"recipient'?s? (?:preferences|rules|filter|settings)",
        r"user (?:refuses|rejects|reject)", r"message rejected due to user rules",
        r"only accepting mail from specific", r"(?:has )?restricted sms", r"user reject",
        r"refuse to receive mail", r"you have been blocked by the recipient",
        r"recipient (?:has )?(?:blocked|blacklisted|rejected) (?:you|your|the sender|"
        r"messages? from)",
        r"sender (?:is )?not (?:in|on) (?:the )?(?:allowed|whitelist|safe)",
        r"resolver\.rst\.", r"not authori[sz]ed to send to (?:this|the) (?:recipient|group|list)",
        r"this account is protected by", r"delivery not authori[sz]ed",
    )),
    (Reason.BLOCKED, (
        r"block ?list", r"black ?list", r"liste noire", r"schwarze liste", r"deny ?list", r"\bdnsbl\b", r"\brbl\b", r"\burbl\b",
        r"spamhaus", r"spamcop", r"barracuda ?central", r"sorbs", r"abuseat", r"uceprotect",
        r"(?<!not )listed (?:at|in|on|by)", r"blocked (?:using|by|because|for|due|from|-)",
        r"is blocked",
        r"(?:ip|host|server|address|network|domain|sender|you) (?:address |has been |is |are |"
        r"was )*(?:temporarily )?(?:blocked|banned|blacklisted)",
        r"(?:ip|domain|sender|sending) reputation",
        r"(?:poor|bad|low|none/bad) (?:email )?reputation",
        r"reputation (?:score|problem)", r"dynamic (?:ip|address|pool)", r"dial-?up",
        r"residential", r"zombie", r"open proxy", r"(?:not|un)acceptable (?:ip|source)",
        r"(?:connections?|mail) (?:will )?not (?:be )?accepted from",
        r"access (?:from|to) .{0,40}(?:denied|blocked|refused)",
        r"client host .{0,80}(?:rejected|refused|blocked)", r"host network not allowed",
        r"not currently accepting mail from your ip",
        # refusing mail *from* someone is about the sender, not a domain without mail service
        r"(?:not accepting|(?:does|do)(?: not|n'?t) accept) (?:any )?(?:e-?mail|mail|messages|"
        r"connections) from",
        r"(?:user|too many) complaints", r"unusual rate of unsolicited", r"helo command rejected",
        r"go away", r"looks suspiciously like spammer", r"abus detecte",
        r"too many (?:spams|unwanted messages)", r"sending spam",
        r"please use the smtp server of your isp",
        r"you are not allowed to connect", r"confirm this mail server", r"requires confirmation",
        r"ip not in (?:whitelist|allowed)", r"suspicious due to", r"invalid ip for sending",
        r"(?:ip|address|host) .{0,40}not (?:allowed|authori[sz]ed|permitted) to send",
        r"(?:\[|\()(?:bl|rl|ts)\d{2}(?:\]|\))", r"banned (?:sending )?ip",
        r"(?:ip|sender) .{0,20}banned",
    )),
    (Reason.RATE_LIMITED, (
        r"rate ?limit", r"frequency limit",
        r"too many (?:connections|concurrent|sessions|smtp|messages|recipients|emails|mails|"
        r"errors|requests)",
        r"(?:connection|message|sending|receiving) rate", r"try again (?:later|slower)",
        r"slow down",
        r"throttl", r"per (?:hour|minute|day)", r"at a rate that",
        r"(?:hourly|daily) (?:limit|quota|sending)",
        r"exceeded (?:the )?(?:max(?:imum)?|allowed|permitted|sending) (?:number|limit|rate|"
        r"emails)",
        r"maximum connection", r"concurrency", r"too fast",
        r"numerous attempts", r"trop de connexions", r"exceeded .{0,40}limit",
    )),
    (Reason.SPAM_DETECTED, (
        r"spam", r"junk", r"unsolicited", r"bulk (?:e-?mail|mail|advertising)", r"spamassassin",
        r"content filter", r"(?:message|mail) (?:content )?(?:filtered|denied)",
        r"mail content denied",
        r"suspected (?:spam|phishing)", r"rejected (?:for|due to) (?:policy|content)",
        r"appears to be (?:spam|unsolicited|bulk|junk)",
        r"(?:message|mail|content) (?:looks like|similar to|classified as|identified as|scored)",
        r"high probability", r"recurrent pattern", r"rejecting (?:banned|mail) content",
        r"unacceptable content", r"spamprofiler",
    )),
    # A name server that said "try again" (Postfix, Exim: TRY_AGAIN, SERVFAIL) is no proof
    # that the domain does not exist.
    (Reason.NETWORK_ERROR, (
        r"host not found, try again", r"name service error .{0,120}try again",
        r"temporary failure in name resolution", r"(?:dns|name server|lookup) (?:timeout|timed out)",
    )),
    (Reason.HOST_UNKNOWN, (
        # the recipient's domain has no usable mail host: broken DNS or MX (Sendmail, Exim)
        r"malformed (?:or unexpected )?(?:name server|dns) (?:reply|response)",
        r"mx records? points? to (?:a )?non-?existent hosts?",
        r"(?:invalid|bad|broken|malformed) mx (?:record|entry|entries|records)",
        r"(?:couldn'?t|could not|can'?t|cannot) find any host",  # qmail-remote
        r"(?:domain|domaine|dominio|dom[íi]nio)(?: [\w.-]+)? (?:est |ist |è |é |is )?"
        r"(?:existiert nicht|inconnu|introuvable|n'existe pas|no existe|non esiste|inesistente|"
        r"n[ãa]o existe|desconhecido|onbekend|bestaat niet)",
        r"(?:host|domain|hostname) (?:name )?(?:is )?(?:unknown|not found|not known|"
        r"does not exist|doesn'?t exist|lookup failed|must exist)",
        r"unknown (?:host|domain)", r"no such (?:host|domain)", r"bad destination system",
        r"host or domain name not found",
        r"name or service not known", r"(?:unroutable|unrouteable) (?:address|domain|mail domain)",
        r"mail domain mentioned in email address is unknown", r"nxdomain",
        r"no (?:mx|dns|a|address) records?",
        r"no mx (?:record )?(?:found|for)",
        r"domain (?:name )?(?:is )?(?:invalid|not valid|unknown|not registered)", r"invalid domain",
        r"dns records for the destination computer could not be found", r"unable to route",
        r"non-existent domain", r"could not resolve",
        r"domain (?:is )?(?:unreachable|not reachable)",
        r"(?<![@\w.-])[a-z0-9-]+(?:\.[a-z0-9-]+)+\.?:? does not exist",
    )),
    (Reason.USER_UNKNOWN, (
        r"(?:user|recipient|mailbox|address|account|addressee|destination|local part|local-part|"
        r"name|e-?mail(?: address)?|rcpt) (?:is |was )?(?:unknown|not (?:found|known|exist|"
        r"present|listed|valid|a valid|ok)|does not exist|doesn'?t exist|invalid|nonexist)",
        r"(?:unknown|invalid|bad|nonexist\w*|non-exist\w*|non existent|illegal|"
        r"unrouteable) (?:user|recipient|mailbox|address|account|local ?part|e-?mail|addressee|"
        r"alias|rcpt)",
        r"bad destination mailbox",
        r"unknown or illegal",
        r"no such (?:user|recipient|mailbox|address|account|person|local user|one)",
        r"no (?:mailbox|account|user) (?:here )?by that name",
        r"(?:is|are) not a (?:valid|known) (?:user|mailbox|recipient|address)",
        r"(?:does not|doesn'?t) (?:exist|have an? .{0,30} account)",
        r"not (?:a )?(?:valid|known|local) (?:recipient|user|mailbox|address)",
        r"(?:user|mailbox|recipient|address|account) .{0,60} (?:does not|doesn'?t) exist",
        r"(?:user|mailbox|recipient|address|account)\S* .{0,60}(?:not found|unknown)",
        r"address (?:unknown|not present|invalid)", r"not in (?:my )?(?:validrcptto|list of valid)",
        r"badrcptto", r"badrecipientto", r"there is no one at this address",
        r"no one (?:here )?by that name",
        r"no mail ?box (?:available|found|here|by)", r"mailbox (?:not (?:found|present|available))",
        r"recipient (?:rejected|refused|not accepted|unknown)",
        r"rcpt (?:to )?(?:rejected|unknown)",
        r"user (?:missing|doesn'?t have)", r"account .{0,30} does not exist",
        r"unknown local ?part", r"(?:invalid|unknown) (?:\w+ ){0,2}user ?ids?\b",
        r"resolver\.adr\.recipient ?not ?found", r"recipientnotfound",
        r"not listed in (?:the )?(?:public )?(?:domino directory|directory|name (?:&|"
        r"and) address book)",
        r"address lookup", r"not a known user",
        r"utilisateur inconnu", r"destinataire (?:inconnu|invalide)", r"unbekannt",
        r"usu[áa]rio (?:desconhecido|inexistente|n[ãa]o existe)",
        r"usuario (?:desconocido|inexistente)", r"utente (?:inesistente|sconosciuto)",
        r"destinatario (?:desconocido|inexistente|sconosciuto)",
        r"onbekende (?:gebruiker|ontvanger)", r"(?:gebruiker|ontvanger|adres) bestaat niet",
        r"n'existe pas",
        r"existiert nicht",
        r"no existe", r"nessun utente", r"存在しな", r"宛先不明",
        r"ディレクトリ.{0,12}(?:ありません|見つかりません)",
        r"sconosciuto", r"не существует", r"нет такого",
        r"email account that you tried to reach does not exist", r"no longer accepts mail",
        r"wrong or no longer valid", r"not our customer", r"vdeliver: invalid",
        r"the following (?:address(?:es)?|recipients?) (?:was|were) (?:undeliverable|unknown)",
    )),
    (Reason.NOT_ACCEPTING, (
        r"null ?mx", r"(?:host|domain|server)(?:/domain)? does not accept (?:any )?mail",
        r"does not accept (?:any )?(?:e-?mail|mail|messages)",
        r"not accepting (?:any )?(?:mail|messages)",
        r"mail receiving disabled", r"no route for current request", r"accepts no mail",
        r"(?:indicated|offers?|provides?) no smtp service",
    )),
    (Reason.CONTENT, (
        r"rfc ?(?:2822|5322|822|5321)(?:bis)? ?(?:compliant|compliance|violation|section|standard|"
        r"requirements)",
        r"(?:header|mime|message) (?:is )?(?:malformed|invalid|not valid|syntax|error)",
        r"malformed", r"(?:duplicate|missing|invalid|illegal|bad) (?:\w+ )?header",
        r"header (?:error|are not accepted)",
        r"8-?bit data", r"media (?:error|not supported|type)", r"bare (?:lf|cr|linefeed)",
        r"improperly[- ]formatted", r"unnecessary base64",
        r"mime complexity", r"missing (?:a )?(?:valid )?message-id", r"encoded-word",
        r"unicode character",
        r"not (?:rfc )?compliant", r"non-?compliant", r"invalid (?:message|content|character)",
        r"too many received", r"loop detected -- too many received",
    )),
    (Reason.POLICY, (
        r"policy", r"prohibited", r"not (?:allowed|permitted) by",
        r"organi[sz]ation(?:al)? (?:settings|policy)",
        r"administrative(?:ly)? (?:prohibit|denied)", r"administrator has (?:disabled|blocked)",
        r"tls (?:is )?required", r"(?:requires?|must use) (?:starttls|tls|encryption)", r"starttls",
        r"ipv6 sending guidelines", r"mass mailer", r"captcha", r"low priority",
        r"messages with multiple addresses", r"multiple addresses in from",
    )),
    (Reason.EXPIRED, (
        r"(?:delivery|message|retry) (?:time ?out|timed out|time expired|expired|period expired)",
        r"time ?out exceeded", r"expired", r"too long in (?:the )?queue",
        r"(?:been|was) in the queue too long", r"could not be delivered (?:for|within|after)",
        r"has been delayed", r"delivery (?:has been )?delayed",
        r"will (?:continue|keep) (?:to )?(?:retry|try)", r"still (?:being )?retr(?:y|ied)",
        r"delivery attempts will continue", r"retry time not reached", r"failing for a long time",
        r"not (?:been )?collected after", r"unable to deliver (?:the )?message after",
        r"not reachable within", r"was not delivered within", r"after multiple retries",
        r"(?:delivery|retry) timeout", r"queue (?:lifetime|period)", r"message timed out",
        r"could not find a gateway", r"server did not respond",
    )),
    (Reason.NETWORK_ERROR, (
        r"connection (?:refused|reset|timed out|closed|lost|dropped)", r"lost connection",
        r"(?:host|network|server) (?:is )?(?:unreachable|not reachable)", r"no route to host",
        r"could not connect",
        r"can'?t connect", r"unable to connect", r"failed to connect",
        r"name server", r"dns (?:lookup|query|resolution|error|failure|timeout|server)",
        r"host (?:name )?lookup failure", r"temporary (?:dns|lookup) failure",
        r"host not found, try again",
        r"servfail", r"tls (?:handshake|negotiation|failure)", r"ssl (?:handshake|error)",
        r"(?:forwarding|routing|mail) loop", r"message looping", r"too many hops", r"hop count",
        r"network error", r"broken pipe", r"remote host closed",
        r"(?:wasn'?t|was not|unable to|not) (?:able to )?establish (?:an? )?(?:smtp )?connection",
        r"conversation with .{0,80} timed out", r"timed out while (?:receiving|sending)",
    )),
    (Reason.PROTOCOL, (
        r"protocol (?:violation|error)", r"syntax error",
        r"command (?:not recogni[sz]ed|unrecogni[sz]ed)",
        r"bad sequence", r"out of sequence", r"pipelining", r"unrecogni[sz]ed command",
    )),
    (Reason.SYSTEM_ERROR, (
        r"local error", r"system error", r"internal (?:server )?error", r"configuration error",
        r"config error", r"misconfigured", r"temporary (?:local )?(?:problem|failure|error)",
        r"try (?:again )?later", r"essayer plus tard",
        r"service (?:is )?(?:currently )?(?:temporarily )?unavailable",
        r"server (?:is )?(?:busy|too busy|overloaded)",
        r"insufficient system (?:storage|resources)",
        r"mail system full", r"queue file write error", r"loops back to myself",
        r"aliasing/forwarding loop", r"mail loop", r"it would create a mail loop",
        r"can'?t create (?:user )?output", r"i/o error", r"timeout waiting for input",
        r"interrupted system call", r"directory server failure", r"could not load",
        r"transient (?:error|failure)", r"\bloop\b",
        r"does not support (?:tls|starttls|encryption)",
        r"greylist", r"processing error", r"encountered an error",
    )),
)

_GENERIC_ROWS: tuple[tuple[Reason, tuple[str, ...]], ...] = (
    # a bare "blocked" beside a stock text ("mailbox unavailable (blocked)") is a block
    (Reason.BLOCKED, (r"\bblocked\b",)),
    (Reason.USER_UNKNOWN, (
        r"mailbox (?:is )?unavailable", r"mailbox name not allowed",
        r"invalid (?:recipient|address)",
        r"user not local", r"not exist", r"recipient address rejected(?:[.;]|$|\s*\()",
    )),
    (Reason.MAILBOX_FULL, (r"exceeded storage allocation", r"insufficient storage")),
    (Reason.POLICY, (
        r"access denied", r"not (?:allowed|permitted|authori[sz]ed)", r"administrative prohibition",
        r"refused", r"rejected", r"denied",
    )),
    (Reason.SYSTEM_ERROR, (
        r"local error in processing", r"transaction failed", r"service not available",
    )),
)


def _compile(rows):
    return tuple((reason, re.compile("|".join(f"(?:{p})" for p in patterns)))
                 for reason, patterns in rows)


SPECIFIC: tuple[tuple[Reason, re.Pattern[str]], ...] = _compile(_SPECIFIC_ROWS)
GENERIC: tuple[tuple[Reason, re.Pattern[str]], ...] = _compile(_GENERIC_ROWS)

# Servers that check recipients only after DATA, in their own words: still no such user.
_AFTER_DATA_ROWS: tuple[str, ...] = (
    r"delivery error: dd (?:this user doesn'?t have|not a valid recipient)",  # Yahoo
    # au (KDDI) names the address it does not know; "550 : User unknown", without it, is
    # the recipient's filter (see the first row of SPECIFIC)
    r"\b550 <[^>\s]+@(?:ezweb\.ne\.jp|au\.com)>: user unknown",
)


def after_data(rows) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in rows) or r"(?!)")


USER_UNKNOWN_AFTER_DATA = after_data(_AFTER_DATA_ROWS)

# Bounce categories some MTAs write into their DSNs after their own analysis.
BOUNCE_CATEGORIES: dict[str, Reason] = {  # PowerMTA: X-PowerMTA-BounceCategory
    "bad-mailbox": Reason.USER_UNKNOWN, "bad-domain": Reason.HOST_UNKNOWN,
    "inactive-mailbox": Reason.SUSPENDED, "quota-issues": Reason.MAILBOX_FULL,
    "no-answer-from-host": Reason.NETWORK_ERROR, "routing-errors": Reason.NETWORK_ERROR,
    "bad-connection": Reason.NETWORK_ERROR, "protocol-errors": Reason.PROTOCOL,
    "content-related": Reason.CONTENT, "spam-related": Reason.SPAM_DETECTED,
    "policy-related": Reason.POLICY, "virus-related": Reason.VIRUS,
    "relaying-issues": Reason.RELAY_DENIED, "message-expired": Reason.EXPIRED,
    "invalid-sender": Reason.SENDER_REJECTED, "bad-configuration": Reason.SYSTEM_ERROR,
}

# Recipient domains whose refusals mean one thing when their words say nothing more.
RECIPIENT_DOMAINS: dict[str, Reason] = {
    "googlegroups.com": Reason.SENDER_REJECTED,  # the poster may not post to the group
}
