package orgwalk

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestForEachKeepsOrder(t *testing.T) {
	items := []int{5, 1, 4, 2, 3}
	got, err := forEach(context.Background(), 2, items, func(_ context.Context, n int) ([]string, error) {
		out := make([]string, n%3)
		for i := range out {
			out[i] = fmt.Sprintf("%d.%d", n, i)
		}
		return out, nil
	})
	want := []string{"5.0", "5.1", "1.0", "4.0", "2.0", "2.1"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Got(forEach) = %v, %v; want %v", got, err, want)
	}
}

func TestForEachFirstError(t *testing.T) {
	boom := errors.New("boom")
	_, err := forEach(context.Background(), 3, []int{1, 2, 3, 4, 5, 6}, func(ctx context.Context, n int) ([]int, error) {
		if n == 2 {
			return nil, boom
		}
		return []int{n}, ctx.Err()
	})
	if !errors.Is(err, boom) {
		t.Errorf("Got(forEach error) = %v; want boom", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := forEach(ctx, 1, []int{1, 2}, func(context.Context, int) ([]int, error) { return nil, nil }); err == nil {
		t.Errorf("Got(forEach cancelled) = nil; want an error")
	}
}

func TestUnder(t *testing.T) {
	ou := Entity{Path: "o-abcdefghij/r-ab12/ou-ab12-1"}
	tests := []struct {
		path string
		want bool
	}{
		{"o-abcdefghij/r-ab12/ou-ab12-1", true},
		{"o-abcdefghij/r-ab12/ou-ab12-1/111111111111", true},
		{"o-abcdefghij/r-ab12/ou-ab12-12", false},
		{"o-abcdefghij/r-ab12", false},
	}
	for _, tt := range tests {
		if got := Under(Entity{Path: tt.path}, ou); got != tt.want {
			t.Errorf("Got(Under(%s)) = %v; want %v", tt.path, got, tt.want)
		}
	}
}
