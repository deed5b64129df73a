#!/bin/sh
# Send a template mail through Sesame with tccli, then wait for its delivery status.
#
#   pip install tccli
#   sh send.sh
#
# Environment:
#   SESAME_ENDPOINT      the API, e.g. http://127.0.0.1:8080
#   SESAME_SECRET_ID     an API key of your account (`sesame account create`)
#   SESAME_SECRET_KEY
#   SESAME_FROM          the sender, on a verified domain (created here if it does not exist)
#   SESAME_TO            the recipient
#   SESAME_TEMPLATE_ID   optional: a template with {{name}} and {{code}}; created here if unset
set -eu

ses() {
    tccli ses "$@" --endpoint "$SESAME_ENDPOINT" --region ap-guangzhou \
        --secretId "$SESAME_SECRET_ID" --secretKey "$SESAME_SECRET_KEY"
}

# The sender address: create it once (its domain must be verified).
known=$(ses ListEmailAddress --filter "length(EmailSenders[?EmailAddress=='$SESAME_FROM'])")
if [ "$known" = 0 ]; then
    ses CreateEmailAddress --EmailAddress "$SESAME_FROM" >/dev/null
fi

# The template: use the one given, or create one (contents are base64).
template_id=${SESAME_TEMPLATE_ID:-}
if [ -z "$template_id" ]; then
    html=$(printf '<p>Hello {{name}}, your code is <b>{{code}}</b>.</p>' | base64 -w0)
    text=$(printf 'Hello {{name}}, your code is {{code}}.' | base64 -w0)
    template_id=$(ses CreateEmailTemplate --cli-unfold-argument --TemplateName "verification code" \
        --TemplateContent.Html "$html" --TemplateContent.Text "$text" --filter TemplateID)
    echo "created template $template_id"
fi

message_id=$(ses SendEmail --cli-unfold-argument --FromEmailAddress "$SESAME_FROM" \
    --Destination "$SESAME_TO" --Subject 'Your code, {{name}}' \
    --Template.TemplateID "$template_id" --Template.TemplateData '{"name": "Ann", "code": "424242"}' \
    --filter MessageId --output text)
echo "MessageId $message_id"

# Wait until DeliverStatus is 1 (delivered); RequestDate is in the server's [api] time_zone
# (UTC+8, like the cloud, unless configured).
ses GetSendEmailStatus --RequestDate "$(TZ=UTC-8 date +%F)" --MessageId "$message_id" \
    --Offset 0 --Limit 10 \
    --waiter '{"expr": "EmailStatusList[0].DeliverStatus", "to": 1, "timeout": 30, "interval": 1}'
