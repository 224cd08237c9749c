package iamreports

import (
	"bytes"
	"encoding/xml"
	"testing"
)

// TestAppendXML pins the hand-written page encoding to what encoding/xml
// makes of the tagged structs.
func TestAppendXML(t *testing.T) {
	one, two := 1, 2
	tests := []getResult{
		{JobStatus: "IN_PROGRESS", JobCreationDate: "2026-11-02T08:00:00.000Z"},
		{JobStatus: "FAILED", JobCreationDate: "a", JobCompletionDate: "b", ErrorDetails: &errorDetails{Code: "ServiceFailure", Message: `x < y & "z"`}},
		{JobStatus: "COMPLETED", JobCreationDate: "a", JobCompletionDate: "b", NumberOfServicesAccessible: &one, NumberOfServicesNotAccessed: &two,
			AccessDetails: &accessDetails{}, IsTruncated: false},
		{JobStatus: "COMPLETED", JobCreationDate: "a", JobCompletionDate: "b", NumberOfServicesAccessible: &one, NumberOfServicesNotAccessed: &two,
			AccessDetails: &accessDetails{Members: []accessDetail{
				{ServiceName: "Amazon S3 & <Glacier>", ServiceNamespace: "s3", Region: "eu-west-1", EntityPath: "o-a/r-b/1", LastAuthenticatedTime: "t", TotalAuthenticatedEntities: 3},
				{ServiceName: "AWS 'Tab'\there\nnewline", ServiceNamespace: "x"},
			}},
			IsTruncated: true, Marker: "abc+/="},
	}
	for _, g := range tests {
		want, err := xml.Marshal(g)
		if err != nil {
			t.Fatal(err)
		}
		want = want[bytes.IndexByte(want, '>')+1 : bytes.LastIndexByte(want, '<')]
		if got := g.appendXML(nil); !bytes.Equal(got, want) {
			t.Errorf("Got(appendXML) = %s; want %s", got, want)
		}
	}
}
