"""A real SMTP server for the mail tests (PyPI `aiosmtpd`).

    python3 tests/smtp/server.py --port PORT --dir DIR [--reject-domain DOMAIN]...
        [--tls starttls|implicit --cert CERT.pem --key KEY.pem]

Listens on 127.0.0.1:PORT (0: a free port) and writes every message it accepts to
DIR/<time>-<n>.eml, exactly as received, after `X-Envelope-From` and one `X-Envelope-To` line
per recipient, and beside it DIR/<time>-<n>.json, the message as Python's `email` package
reads it: {"envelope_from", "envelope_to": [...], "headers": {name: [values]} (decoded),
"text", "html" (the decoded bodies of the first text/plain and text/html parts, with `\n`
line ends, or null)}.
Each file appears whole (written aside, then renamed), the .json last. A recipient in a
`--reject-domain` is refused at RCPT with `550 5.1.1` (a permanent failure). Prints
`READY <port>` once it listens; SIGTERM or SIGINT stops it.

With `--tls starttls` it offers STARTTLS and refuses mail before it (530); with
`--tls implicit` it speaks TLS from the first byte (SMTPS); either with CERT and KEY.
"""

import argparse
import asyncio
import email
import email.policy
import itertools
import json
import os
import signal
import ssl
import sys
import time

from aiosmtpd.smtp import SMTP


class Handler:
    def __init__(self, directory, reject_domains):
        self.directory = directory
        self.reject = {d.lower() for d in reject_domains}
        self.counter = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.rpartition("@")[2].lower() in self.reject:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        header = f"X-Envelope-From: {envelope.mail_from}\r\n"
        for rcpt in envelope.rcpt_tos:
            header += f"X-Envelope-To: {rcpt}\r\n"
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        stem = f"{time.time_ns()}-{next(self.counter)}"
        self.write(stem + ".eml", header.encode("utf-8") + content)
        self.write(stem + ".json", json.dumps(parse(envelope, content), indent=2).encode("utf-8"))
        return "250 2.0.0 message accepted"

    def write(self, name, data):
        partial = os.path.join(self.directory, "." + name + ".part")
        with open(partial, "wb") as f:
            f.write(data)
        os.rename(partial, os.path.join(self.directory, name))


def parse(envelope, content):
    message = email.message_from_bytes(content, policy=email.policy.default)
    headers = {}
    for name, value in message.items():
        headers.setdefault(name.lower(), []).append(str(value))
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return {
        "envelope_from": envelope.mail_from,
        "envelope_to": list(envelope.rcpt_tos),
        "headers": headers,
        "text": lines(text.get_content()) if text is not None else None,
        "html": lines(html.get_content()) if html is not None else None,
    }


def lines(body):
    """A decoded body with `\n` line ends (SMTP carries CRLF)."""
    return body.replace("\r\n", "\n")


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--reject-domain", action="append", default=[])
    parser.add_argument("--tls", choices=["starttls", "implicit"])
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)

    context = None
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
    starttls = {"tls_context": context, "require_starttls": True} if args.tls == "starttls" else {}

    handler = Handler(args.dir, args.reject_domain)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="smtp.wharf.test", enable_SMTPUTF8=True, **starttls),
        host="127.0.0.1",
        port=args.port,
        ssl=context if args.tls == "implicit" else None,
    )
    port = server.sockets[0].getsockname()[1]
    print(f"READY {port}", flush=True)

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
