module example.com/matrix/c1

go 1.24.0

require example.com/matrix/api v0.0.0

replace example.com/matrix/api => ../../api
