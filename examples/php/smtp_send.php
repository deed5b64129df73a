<?php
// Send a mail with an attachment through Sesame's SMTP submission port with PHPMailer
// (STARTTLS, then AUTH as the sender address).
//
//   php smtp_send.php          # Debian: apt install php-cli libphp-phpmailer
//
// With Composer (composer require phpmailer/phpmailer), set PHPMAILER_AUTOLOAD=vendor/autoload.php.
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

use PHPMailer\PHPMailer\PHPMailer;

require getenv('PHPMAILER_AUTOLOAD') ?: '/usr/share/php/libphp-phpmailer/autoload.php';

$mail = new PHPMailer(true); // throw on errors
$mail->CharSet = PHPMailer::CHARSET_UTF8;
$mail->isSMTP();
$mail->Host = getenv('SESAME_SMTP_HOST') ?: '127.0.0.1';
$mail->Port = (int) (getenv('SESAME_SMTP_PORT') ?: 2587);
$mail->SMTPSecure = PHPMailer::ENCRYPTION_STARTTLS;
$mail->SMTPAuth = true;
$mail->Username = getenv('SESAME_SMTP_USER');
$mail->Password = getenv('SESAME_SMTP_PASSWORD');
if (getenv('SESAME_SMTP_INSECURE') === '1') {
    $mail->SMTPOptions = ['ssl' => ['verify_peer' => false, 'verify_peer_name' => false, 'allow_self_signed' => true]];
}

$mail->setFrom(getenv('SESAME_FROM') ?: $mail->Username);
$mail->addAddress(getenv('SESAME_TO'));
$mail->Subject = 'Monthly report';
$mail->Body = "Hello,\n\nthe monthly report is attached.\n";
$mail->addAttachment(getenv('SESAME_ATTACHMENT')); // base64, named after the file

$mail->send();
echo 'sent ', $mail->Subject, ' to ', getenv('SESAME_TO'), "\n";
