package goclients

// Drives POST /v1/responses of a live `runnel serve` with the official Go
// SDK, github.com/openai/openai-go/v3 (Responses.NewStreaming and New),
// against the mock provider: the text, usage and events are exact.

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
)

// streamResponse runs params through Responses.NewStreaming and returns the
// event types, the text deltas and the final response (of
// response.completed or response.incomplete), checking sequence numbers.
func streamResponse(t *testing.T, client openai.Client, params responses.ResponseNewParams) (types, deltas []string, final *responses.Response) {
	t.Helper()
	s := client.Responses.NewStreaming(context.Background(), params)
	defer s.Close()
	for s.Next() {
		ev := s.Current()
		if ev.SequenceNumber != int64(len(types)) {
			t.Errorf("event %d (%s): sequence_number %d", len(types), ev.Type, ev.SequenceNumber)
		}
		types = append(types, ev.Type)
		switch ev.Type {
		case "response.output_text.delta":
			deltas = append(deltas, ev.AsResponseOutputTextDelta().Delta)
		case "response.completed":
			r := ev.AsResponseCompleted().Response
			final = &r
		case "response.incomplete":
			r := ev.AsResponseIncomplete().Response
			final = &r
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if final == nil {
		t.Fatalf("no final response in %q", types)
	}
	return types, deltas, final
}

func TestOpenAIGoResponsesStreaming(t *testing.T) {
	client := openaiClient(t)
	types, deltas, final := streamResponse(t, client, responses.ResponseNewParams{
		Model: "mock/default?text=Hello%20world%20from%20Runnel",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Say hello")},
	})
	want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
		"response.output_text.delta", "response.output_text.delta", "response.output_text.delta", "response.output_text.delta",
		"response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"}
	if !reflect.DeepEqual(types, want) {
		t.Errorf("events %q\nwant %q", types, want)
	}
	if !reflect.DeepEqual(deltas, []string{"Hello", " world", " from", " Runnel"}) {
		t.Errorf("deltas %q", deltas)
	}
	if got := final.OutputText(); got != "Hello world from Runnel" {
		t.Errorf("output text %q", got)
	}
	if final.Status != "completed" {
		t.Errorf("status %q", final.Status)
	}
	u := final.Usage
	if u.InputTokens != 2 || u.OutputTokens != 4 || u.TotalTokens != 6 || !u.JSON.OutputTokensDetails.Valid() {
		t.Errorf("usage %+v", u)
	}
}

func TestOpenAIGoResponsesReasoningAndIncomplete(t *testing.T) {
	client := openaiClient(t)
	types, _, final := streamResponse(t, client, responses.ResponseNewParams{
		Model:           "mock/default?text=Yes%20indeed%20it%20is&think=3",
		Input:           responses.ResponseNewParamsInputUnion{OfString: openai.String("Think first")},
		MaxOutputTokens: openai.Int(5),
	})
	if types[len(types)-1] != "response.incomplete" || final.IncompleteDetails.Reason != "max_output_tokens" {
		t.Fatalf("ended with %s, %+v", types[len(types)-1], final.IncompleteDetails)
	}
	if len(final.Output) != 2 || final.Output[0].Type != "reasoning" || final.Output[0].Content[0].Text != "Let me think" {
		t.Errorf("output %+v", final.Output)
	}
	if final.OutputText() != "Yes indeed" || final.Usage.OutputTokensDetails.ReasoningTokens != 3 {
		t.Errorf("text %q, usage %+v", final.OutputText(), final.Usage)
	}
}

// A function call, then its output sent back with the call.
func TestOpenAIGoResponsesFunctionCall(t *testing.T) {
	client := openaiClient(t)
	tools := []responses.ToolUnionParam{{OfFunction: &responses.FunctionToolParam{
		Name:       "get_weather",
		Parameters: map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
		Strict:     openai.Bool(false),
	}}}
	_, _, first := streamResponse(t, client, responses.ResponseNewParams{
		Model: "mock/default?text=Checking&tool=get_weather&tool_args=%7B%22city%22%3A%22Paris%22%7D",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Weather in Paris?")},
		Tools: tools,
	})
	var call *responses.ResponseFunctionToolCall
	for _, o := range first.Output {
		if o.Type == "function_call" {
			c := o.AsFunctionCall()
			call = &c
		}
	}
	if call == nil || call.Name != "get_weather" || call.Arguments != `{"city":"Paris"}` || call.CallID == "" {
		t.Fatalf("function call %+v in %+v", call, first.Output)
	}
	out := responses.ResponseInputItemParamOfFunctionCallOutput("sunny")
	out.OfFunctionCallOutput.CallID = openai.String(call.CallID)
	second, err := client.Responses.New(context.Background(), responses.ResponseNewParams{
		Model: "mock/default?text=It%20is%20sunny",
		Tools: tools,
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			responses.ResponseInputItemParamOfMessage("Weather in Paris?", responses.EasyInputMessageRoleUser),
			responses.ResponseInputItemParamOfFunctionCall(call.Arguments, call.CallID, call.Name),
			out,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// "Weather in Paris?" is 4 tokens and "sunny" 1, as the mock counts.
	if second.OutputText() != "It is sunny" || second.Usage.InputTokens != 5 {
		t.Errorf("second: %q, usage %+v", second.OutputText(), second.Usage)
	}
}

// previous_response_id chains turns: the second call's context is the
// first's input and output, then its own (the mock's usage counts every
// token it was sent), and both are stored for Get and InputItems.
func TestOpenAIGoResponsesPreviousResponseID(t *testing.T) {
	client := openaiClient(t)
	ctx := context.Background()
	const model = "mock/default?text=Hello%20world%20from%20Runnel"
	alone := func(input string) int64 {
		r, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: model, Store: openai.Bool(false),
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(input)}})
		if err != nil {
			t.Fatal(err)
		}
		return r.Usage.InputTokens
	}
	first, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: model,
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Say hello")}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(first.RawJSON(), `"store":true`) {
		t.Errorf("first: %s; store true is the default", first.RawJSON())
	}
	_, _, second := streamResponse(t, client, responses.ResponseNewParams{Model: model, PreviousResponseID: openai.String(first.ID),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("And again?")}})
	if want := alone("Say hello") + first.Usage.OutputTokens + alone("And again?"); second.Usage.InputTokens != want || second.PreviousResponseID != first.ID {
		t.Errorf("second: input_tokens %d, want %d (the first turn's input and output, then its own); previous_response_id %q",
			second.Usage.InputTokens, want, second.PreviousResponseID)
	}
	got, err := client.Responses.Get(ctx, second.ID, responses.ResponseGetParams{})
	if err != nil || got.ID != second.ID || got.OutputText() != "Hello world from Runnel" || got.Usage.InputTokens != second.Usage.InputTokens {
		t.Errorf("Get: %+v %v", got, err)
	}
	page, err := client.Responses.InputItems.List(ctx, second.ID, responses.InputItemListParams{Order: responses.InputItemListParamsOrderAsc})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, it := range page.Data {
		m := it.AsMessage()
		texts = append(texts, string(m.Role)+": "+m.Content[0].Text)
	}
	if want := []string{"user: Say hello", "assistant: Hello world from Runnel", "user: And again?"}; !reflect.DeepEqual(texts, want) {
		t.Errorf("input items %q, want %q", texts, want)
	}
	if err := client.Responses.Delete(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	_, err = client.Responses.New(ctx, responses.ResponseNewParams{Model: model, PreviousResponseID: openai.String(first.ID),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Param != "previous_response_id" {
		t.Fatalf("a deleted previous response: %v", err)
	}
}
