#!/bin/sh
# Send a mail with an attachment through Sesame's SMTP submission port with swaks
# (STARTTLS, then AUTH as the sender address). Debian: apt install swaks libio-socket-ssl-perl
#
#   sh send.sh
#
# Environment:
#   SESAME_SMTP_HOST       default 127.0.0.1
#   SESAME_SMTP_PORT       the STARTTLS port, default 2587
#   SESAME_SMTP_USER       the sender address whose password UpdateEmailSmtpPassWord set
#   SESAME_SMTP_PASSWORD
#   SESAME_FROM            the From address (a sender of your account; default SESAME_SMTP_USER)
#   SESAME_TO              the recipient
#   SESAME_ATTACHMENT      path of the file to attach
# swaks does not check the server's certificate unless asked (--tls-verify), so
# SESAME_SMTP_INSECURE is not needed here.
set -eu
from=${SESAME_FROM:-$SESAME_SMTP_USER}

exec swaks --server "${SESAME_SMTP_HOST:-127.0.0.1}" --port "${SESAME_SMTP_PORT:-2587}" --tls \
    --auth PLAIN --auth-user "$SESAME_SMTP_USER" --auth-password "$SESAME_SMTP_PASSWORD" \
    --from "$from" --to "$SESAME_TO" \
    --header "Subject: Monthly report" \
    --body "Hello,

the monthly report is attached." \
    --attach-type application/octet-stream --attach-name "$(basename "$SESAME_ATTACHMENT")" \
    --attach @"$SESAME_ATTACHMENT"
