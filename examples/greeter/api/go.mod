module example.com/greeter/api

go 1.24
