module example.com/greeter/plugins/count

go 1.24

require example.com/greeter/api v0.0.0

replace example.com/greeter/api => ../../api
