module example.com/clib

go 1.24
