// Send a mail with an attachment through Sesame's SMTP submission port with net/smtp
// (STARTTLS, then AUTH PLAIN as the sender address).
//
//	go run .
//
// Environment:
//
//	SESAME_SMTP_HOST       default 127.0.0.1
//	SESAME_SMTP_PORT       the STARTTLS port, default 2587
//	SESAME_SMTP_USER       the sender address whose password UpdateEmailSmtpPassWord set
//	SESAME_SMTP_PASSWORD
//	SESAME_FROM            the From address (a sender of your account; default SESAME_SMTP_USER)
//	SESAME_TO              the recipient
//	SESAME_ATTACHMENT      path of the file to attach
//	SESAME_SMTP_INSECURE   1 to accept any certificate (Sesame's self-signed one in a test setup)
package main

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"log"
	"mime"
	"mime/multipart"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
)

func getenv(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func main() {
	host := getenv("SESAME_SMTP_HOST", "127.0.0.1")
	port := getenv("SESAME_SMTP_PORT", "2587")
	user, password := os.Getenv("SESAME_SMTP_USER"), os.Getenv("SESAME_SMTP_PASSWORD")
	from, to := getenv("SESAME_FROM", user), os.Getenv("SESAME_TO")
	attachment := os.Getenv("SESAME_ATTACHMENT")

	data, err := os.ReadFile(attachment)
	if err != nil {
		log.Fatal(err)
	}

	// The message: a text part and the attachment, base64 in lines of 76.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fmt.Fprintf(&body, "From: %s\r\nTo: %s\r\nSubject: Monthly report\r\nMIME-Version: 1.0\r\n", from, to)
	fmt.Fprintf(&body, "Content-Type: multipart/mixed; boundary=%s\r\n\r\n", mw.Boundary())
	part, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/plain; charset=utf-8"}})
	part.Write([]byte("Hello,\r\n\r\nthe monthly report is attached.\r\n"))
	name := filepath.Base(attachment)
	ctype := mime.TypeByExtension(filepath.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	part, _ = mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {mime.FormatMediaType(ctype, map[string]string{"name": name})},
		"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": name})},
		"Content-Transfer-Encoding": {"base64"},
	})
	encoded := base64.StdEncoding.EncodeToString(data)
	for len(encoded) > 76 {
		fmt.Fprintf(part, "%s\r\n", encoded[:76])
		encoded = encoded[76:]
	}
	fmt.Fprintf(part, "%s\r\n", encoded)
	mw.Close()

	// STARTTLS, then AUTH PLAIN (net/smtp sends PLAIN only over TLS).
	c, err := smtp.Dial(net.JoinHostPort(host, port))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	tlsConfig := &tls.Config{ServerName: host, InsecureSkipVerify: os.Getenv("SESAME_SMTP_INSECURE") == "1"}
	if err := c.StartTLS(tlsConfig); err != nil {
		log.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", user, password, host)); err != nil {
		log.Fatal(err)
	}
	if err := c.Mail(from); err != nil {
		log.Fatal(err)
	}
	if err := c.Rcpt(to); err != nil {
		log.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		log.Fatal(err)
	}
	if _, err := w.Write(body.Bytes()); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil { // Sesame answers 250 once the mail is queued
		log.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("sent Monthly report to", to)
}
