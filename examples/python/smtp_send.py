"""Send a mail with an attachment through Sesame's SMTP submission port with smtplib
(STARTTLS, then AUTH as the sender address).

    python smtp_send.py

Environment:
    SESAME_SMTP_HOST       default 127.0.0.1
    SESAME_SMTP_PORT       the STARTTLS port, default 2587
    SESAME_SMTP_USER       the sender address whose password UpdateEmailSmtpPassWord set
    SESAME_SMTP_PASSWORD
    SESAME_FROM            the From address (a sender of your account; default SESAME_SMTP_USER)
    SESAME_TO              the recipient
    SESAME_ATTACHMENT      path of the file to attach
    SESAME_SMTP_INSECURE   1 to accept any certificate (Sesame's self-signed one in a test setup)
"""

import mimetypes
import os
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path

host = os.environ.get("SESAME_SMTP_HOST", "127.0.0.1")
port = int(os.environ.get("SESAME_SMTP_PORT", "2587"))
user, password = os.environ["SESAME_SMTP_USER"], os.environ["SESAME_SMTP_PASSWORD"]
attachment = Path(os.environ["SESAME_ATTACHMENT"])

msg = EmailMessage()
msg["From"] = os.environ.get("SESAME_FROM", user)
msg["To"] = os.environ["SESAME_TO"]
msg["Subject"] = "Monthly report"
msg.set_content("Hello,\n\nthe monthly report is attached.\n")
ctype = mimetypes.guess_type(attachment.name)[0] or "application/octet-stream"
maintype, subtype = ctype.split("/")
msg.add_attachment(attachment.read_bytes(), maintype=maintype, subtype=subtype, filename=attachment.name)

context = ssl.create_default_context()
if os.environ.get("SESAME_SMTP_INSECURE") == "1":
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

with smtplib.SMTP(host, port, timeout=30) as smtp:
    smtp.starttls(context=context)
    smtp.login(user, password)
    smtp.send_message(msg)
print("sent", msg["Subject"], "to", msg["To"])
