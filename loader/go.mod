module github.com/pbuild/pbuild/loader

go 1.22
