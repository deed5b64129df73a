module example.com/sesame-smtp

go 1.19
