module example.com/matrix/host

go 1.24.0

require (
	example.com/matrix/api v0.0.0
	github.com/pbuild/pbuild/loader v0.0.0
	golang.org/x/sync v0.16.0
)

replace example.com/matrix/api => ../api

replace github.com/pbuild/pbuild/loader => ../../../loader
