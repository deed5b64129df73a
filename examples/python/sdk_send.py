"""Send a template mail through Sesame with the official TencentCloud SDK for Python, then read
its delivery status.

    pip install tencentcloud-sdk-python-ses
    python sdk_send.py

Environment:
    SESAME_ENDPOINT      the API, e.g. http://127.0.0.1:8080
    SESAME_SECRET_ID     an API key of your account (`sesame account create`)
    SESAME_SECRET_KEY
    SESAME_FROM          the sender, on a verified domain (created here if it does not exist)
    SESAME_TO            the recipient
    SESAME_TEMPLATE_ID   optional: a template with {{name}} and {{code}}; created here if unset
"""

import base64
import json
import os
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.ses.v20201002 import models, ses_client

endpoint = urlsplit(os.environ["SESAME_ENDPOINT"])
profile = ClientProfile(httpProfile=HttpProfile(endpoint=endpoint.netloc, protocol=endpoint.scheme))
cred = credential.Credential(os.environ["SESAME_SECRET_ID"], os.environ["SESAME_SECRET_KEY"])
client = ses_client.SesClient(cred, "ap-guangzhou", profile)
sender, to = os.environ["SESAME_FROM"], os.environ["SESAME_TO"]

# The sender address: create it once (its domain must be verified).
req = models.CreateEmailAddressRequest()
req.EmailAddress = sender
try:
    client.CreateEmailAddress(req)
except TencentCloudSDKException as e:
    if e.code != "InvalidParameterValue.RepeatEmailAddress":
        raise

# The template: use the one given, or create one.
template_id = os.environ.get("SESAME_TEMPLATE_ID")
if not template_id:
    req = models.CreateEmailTemplateRequest()
    req.TemplateName = "verification code"
    req.TemplateContent = models.TemplateContent()
    req.TemplateContent.Html = base64.b64encode(b"<p>Hello {{name}}, your code is <b>{{code}}</b>.</p>").decode()
    req.TemplateContent.Text = base64.b64encode(b"Hello {{name}}, your code is {{code}}.").decode()
    template_id = client.CreateEmailTemplate(req).TemplateID
    print("created template", template_id)

req = models.SendEmailRequest()
req.FromEmailAddress = sender
req.Destination = [to]
req.Subject = "Your code, {{name}}"
req.Template = models.Template()
req.Template.TemplateID = int(template_id)
req.Template.TemplateData = json.dumps({"name": "Ann", "code": "424242"})
message_id = client.SendEmail(req).MessageId
print("MessageId", message_id)

# The status: DeliverStatus 0 queued, 1 delivered, 2 dropped, 3 bounced, 8 deferred (retrying).
# RequestDate is in the server's [api] time_zone (UTC+8, like the cloud, unless configured).
req = models.GetSendEmailStatusRequest()
req.RequestDate = datetime.now(timezone(timedelta(hours=8))).strftime("%Y-%m-%d")
req.MessageId = message_id
req.Offset, req.Limit = 0, 10
for _ in range(30):
    rows = client.GetSendEmailStatus(req).EmailStatusList
    if rows and rows[0].DeliverStatus != 0:
        break
    time.sleep(1)
print(rows[0].to_json_string())
raise SystemExit(0 if rows[0].DeliverStatus == 1 else 1)
