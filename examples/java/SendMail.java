// Send a mail with an attachment through Sesame's SMTP submission port with Jakarta Mail
// (STARTTLS, then AUTH as the sender address).
//
//   CP=/usr/share/java/jakarta-mail.jar:/usr/share/java/jakarta-activation.jar   # Debian: libjakarta-mail-java
//   javac -cp $CP -d build SendMail.java && java -cp build:$CP SendMail
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

import jakarta.mail.Message;
import jakarta.mail.Session;
import jakarta.mail.Transport;
import jakarta.mail.internet.InternetAddress;
import jakarta.mail.internet.MimeBodyPart;
import jakarta.mail.internet.MimeMessage;
import jakarta.mail.internet.MimeMultipart;
import java.io.File;
import java.util.Properties;

public class SendMail {
    static String env(String name, String fallback) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? fallback : v;
    }

    public static void main(String[] args) throws Exception {
        String host = env("SESAME_SMTP_HOST", "127.0.0.1");
        String user = System.getenv("SESAME_SMTP_USER");

        Properties props = new Properties();
        props.put("mail.smtp.host", host);
        props.put("mail.smtp.port", env("SESAME_SMTP_PORT", "2587"));
        props.put("mail.smtp.auth", "true");
        props.put("mail.smtp.starttls.enable", "true");
        props.put("mail.smtp.starttls.required", "true");
        props.put("mail.smtp.ssl.protocols", "TLSv1.2 TLSv1.3");
        if ("1".equals(System.getenv("SESAME_SMTP_INSECURE"))) {
            props.put("mail.smtp.ssl.trust", "*");
        } else {
            props.put("mail.smtp.ssl.checkserveridentity", "true");
        }
        Session session = Session.getInstance(props);

        MimeMessage msg = new MimeMessage(session);
        msg.setFrom(new InternetAddress(env("SESAME_FROM", user)));
        msg.setRecipients(Message.RecipientType.TO, InternetAddress.parse(System.getenv("SESAME_TO")));
        msg.setSubject("Monthly report", "UTF-8");

        MimeBodyPart text = new MimeBodyPart();
        text.setText("Hello,\n\nthe monthly report is attached.\n", "UTF-8");
        MimeBodyPart file = new MimeBodyPart();
        file.attachFile(new File(System.getenv("SESAME_ATTACHMENT")), null, "base64");
        msg.setContent(new MimeMultipart(text, file));

        Transport.send(msg, user, System.getenv("SESAME_SMTP_PASSWORD"));
        System.out.println("sent " + msg.getSubject() + " to " + System.getenv("SESAME_TO"));
    }
}
