#!/usr/bin/python3
"""A real SMTP server for certvigil's tests (Debian's python3-aiosmtpd).

    smtp_sink.py PORT OUTDIR [USER PASSWORD]

Listens on 127.0.0.1:PORT (0 picks a free port), prints "READY <port>" on
stdout when it accepts connections, and writes every message it receives
to OUTDIR/NNNN.json, parsed by Python's own email package so the test
checks certvigil's mail against an independent parser:
  mail_from, rcpt_tos, raw (the message as sent), subject (decoded),
  headers ([name, raw value] in order), body (decoded text).
With USER and PASSWORD, AUTH is required (and offered without TLS, which
only a loopback test may do). It offers no STARTTLS.
"""
import asyncio
import email
import email.policy
import json
import logging
import os
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Sink:
    def __init__(self, outdir):
        self.outdir = outdir
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        raw_msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "raw": raw.decode("utf-8", "replace"),
            "subject": str(msg["subject"]),
            "headers": [[k, str(v)] for k, v in raw_msg.items()],
            "body": msg.get_content(),
        }
        self.count += 1
        path = os.path.join(self.outdir, "%04d.json" % self.count)
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        # Atomic, so the test never reads half a message.
        os.rename(path + ".tmp", path)
        return "250 Message accepted"


def main():
    # The no-TLS AUTH warnings are expected on loopback; keep test output clean.
    warnings.simplefilter("ignore")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    port = int(sys.argv[1])
    outdir = sys.argv[2]
    creds = (sys.argv[3], sys.argv[4]) if len(sys.argv) >= 5 else None
    handler = Sink(outdir)
    kwargs = {}
    if creds:
        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword)
                  and auth_data.login.decode() == creds[0]
                  and auth_data.password.decode() == creds[1])
            # handled=False makes aiosmtpd answer 535 itself on failure.
            return AuthResult(success=ok, handled=False)
        kwargs = dict(authenticator=authenticator, auth_required=True,
                      auth_require_tls=False)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(
        lambda: SMTP(handler, hostname="sink.test", loop=loop, **kwargs),
        "127.0.0.1", port))
    print("READY %d" % server.sockets[0].getsockname()[1], flush=True)
    loop.run_forever()


if __name__ == "__main__":
    main()
