// Send a mail with an attachment through Sesame's SMTP submission port with nodemailer
// (STARTTLS, then AUTH as the sender address).
//
//   npm ci && node smtp_send.js
//
// Environment:
//   SESAME_SMTP_HOST       default 127.0.0.1
//   SESAME_SMTP_PORT       the STARTTLS port, default 2587
//   SESAME_SMTP_USER       the sender address whose password UpdateEmailSmtpPassWord set
//   SESAME_SMTP_PASSWORD
//   SESAME_FROM            the From address (a sender of your account; default SESAME_SMTP_USER)
//   SESAME_TO              the recipient
//   SESAME_ATTACHMENT      path of the file to attach
//   SESAME_SMTP_INSECURE   1 to accept any certificate (Sesame's self-signed one in a test setup)
const path = require("node:path");
const nodemailer = require("nodemailer");

const env = process.env;
const transport = nodemailer.createTransport({
  host: env.SESAME_SMTP_HOST || "127.0.0.1",
  port: Number(env.SESAME_SMTP_PORT || 2587),
  secure: false, // STARTTLS on the submission port (use true for [smtp] tls_listen)
  requireTLS: true,
  auth: { user: env.SESAME_SMTP_USER, pass: env.SESAME_SMTP_PASSWORD },
  tls: { rejectUnauthorized: env.SESAME_SMTP_INSECURE !== "1" },
});

async function main() {
  const info = await transport.sendMail({
    from: env.SESAME_FROM || env.SESAME_SMTP_USER,
    to: env.SESAME_TO,
    subject: "Monthly report",
    text: "Hello,\n\nthe monthly report is attached.\n",
    attachments: [{ filename: path.basename(env.SESAME_ATTACHMENT), path: env.SESAME_ATTACHMENT }],
  });
  // Sesame's reply to DATA: "250 2.0.0 Ok: queued as <MessageId>"
  console.log(info.response);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
