module example.com/greeter/host

go 1.24

require (
	example.com/greeter/api v0.0.0
	github.com/pbuild/pbuild/loader v0.0.0
	golang.org/x/text v0.21.0
)

replace example.com/greeter/api => ../api

replace github.com/pbuild/pbuild/loader => ../../../loader
