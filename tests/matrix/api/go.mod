module example.com/matrix/api

go 1.24.0
