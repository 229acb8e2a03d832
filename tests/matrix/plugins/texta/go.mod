module example.com/matrix/texta

go 1.24.0

require golang.org/x/text v0.20.0
