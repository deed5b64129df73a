// Send a template mail through Sesame with the official TencentCloud SDK for Node.js, then read
// its delivery status.
//
//   npm ci && node sdk_send.js
//
// Environment:
//   SESAME_ENDPOINT      the API, e.g. http://127.0.0.1:8080
//   SESAME_SECRET_ID     an API key of your account (`sesame account create`)
//   SESAME_SECRET_KEY
//   SESAME_FROM          the sender, on a verified domain (created here if it does not exist)
//   SESAME_TO            the recipient
//   SESAME_TEMPLATE_ID   optional: a template with {{name}} and {{code}}; created here if unset
const tencentcloud = require("tencentcloud-sdk-nodejs");

const env = process.env;
const endpoint = new URL(env.SESAME_ENDPOINT);
const client = new tencentcloud.ses.v20201002.Client({
  credential: { secretId: env.SESAME_SECRET_ID, secretKey: env.SESAME_SECRET_KEY },
  region: "ap-guangzhou",
  profile: { httpProfile: { endpoint: endpoint.host, protocol: endpoint.protocol + "//" } },
});
const b64 = (s) => Buffer.from(s).toString("base64");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  // The sender address: create it once (its domain must be verified).
  try {
    await client.CreateEmailAddress({ EmailAddress: env.SESAME_FROM });
  } catch (err) {
    if (err.code !== "InvalidParameterValue.RepeatEmailAddress") throw err;
  }

  // The template: use the one given, or create one.
  let templateId = Number(env.SESAME_TEMPLATE_ID);
  if (!templateId) {
    const created = await client.CreateEmailTemplate({
      TemplateName: "verification code",
      TemplateContent: {
        Html: b64("<p>Hello {{name}}, your code is <b>{{code}}</b>.</p>"),
        Text: b64("Hello {{name}}, your code is {{code}}."),
      },
    });
    templateId = created.TemplateID;
    console.log("created template", templateId);
  }

  const { MessageId } = await client.SendEmail({
    FromEmailAddress: env.SESAME_FROM,
    Destination: [env.SESAME_TO],
    Subject: "Your code, {{name}}",
    Template: { TemplateID: templateId, TemplateData: JSON.stringify({ name: "Ann", code: "424242" }) },
  });
  console.log("MessageId", MessageId);

  // The status: DeliverStatus 0 queued, 1 delivered, 2 dropped, 3 bounced, 8 deferred (retrying).
  // RequestDate is in the server's [api] time_zone (UTC+8, like the cloud, unless configured).
  const requestDate = new Date(Date.now() + 8 * 3600 * 1000).toISOString().slice(0, 10);
  let row;
  for (let i = 0; i < 30; i++) {
    const { EmailStatusList } = await client.GetSendEmailStatus({
      RequestDate: requestDate, MessageId, Offset: 0, Limit: 10,
    });
    row = EmailStatusList[0];
    if (row && row.DeliverStatus !== 0) break;
    await sleep(1000);
  }
  console.log(JSON.stringify(row));
  process.exitCode = row && row.DeliverStatus === 1 ? 0 : 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
