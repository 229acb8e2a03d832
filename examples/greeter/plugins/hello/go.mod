module example.com/greeter/plugins/hello

go 1.24

require (
	example.com/greeter/api v0.0.0
	golang.org/x/text v0.20.0
)

replace example.com/greeter/api => ../../api
