package quota

import (
	"context"
	"slices"
	"time"

	"github.com/api-jongler/jongler/internal/state"
)

// MaxModels is the most model names whose requests a connector counts
// apart in a day under a "*" budget. The requests of the names past it
// share one count, under the name "*": a client that invents model names
// cannot make the counters grow without bound. Models with a budget of
// their own or a learned quota are always counted apart.
const MaxModels = 256

// shared is the name the requests of the models past MaxModels are
// counted under.
const shared = "*"

// countedAs returns the name the requests for model are counted under in
// st on the day starting at day: the model's own, or shared. register is
// true when the model must first be listed in the state (see register);
// until then its own name is returned.
func (b *Book[C]) countedAs(st *state.State, model string, day time.Time) (name string, register bool) {
	if model == "" || model == shared {
		return model, false
	}
	for _, bud := range b.cfg.Budgets {
		if bud.Model == model {
			return model, false
		}
	}
	if len(st.Models) == 0 && len(st.Learned) == 0 {
		return model, true
	}
	if len(st.Models) <= indexAfter && len(st.Learned) <= indexAfter {
		if slices.ContainsFunc(st.Learned, func(l state.Learned) bool { return l.Model == model }) ||
			slices.ContainsFunc(st.Models, func(m state.CountedModel) bool { return m.Model == model }) {
			return model, false
		}
	} else if x := b.indexOf(st); x.models[model] {
		return model, false
	}
	if listedSince(st, day) < MaxModels {
		return model, true
	}
	b.warnModels()
	return shared, false
}

// warnModels warns, once, that a day's models reached MaxModels.
func (b *Book[C]) warnModels() {
	if b.modelsWarned.CompareAndSwap(false, true) && b.cfg.Logger != nil {
		b.cfg.Logger.Warn("jongler: more model names than are counted apart in a day; the requests of the others share one budget count until the day ends",
			"connector", b.cfg.Connector, "max", MaxModels)
	}
}

// listedSince counts the models st lists from the day starting at day on.
func listedSince(st *state.State, day time.Time) int {
	n := 0
	for _, m := range st.Models {
		if !m.Day.Before(day) {
			n++
		}
	}
	return n
}

// register lists model in the state, to be counted apart from the day
// starting at day on, if the day has room for it, and returns the name
// its requests are counted under. The models of days past are dropped
// then: their counts have ended.
func (b *Book[C]) register(ctx context.Context, model string, day time.Time) (string, error) {
	name := model
	err := b.cfg.Update(ctx, func(st *state.State) error {
		name = model
		if slices.ContainsFunc(st.Models, func(m state.CountedModel) bool { return m.Model == model }) {
			return nil
		}
		st.Models = slices.DeleteFunc(st.Models, func(m state.CountedModel) bool { return m.Day.Before(day) })
		if len(st.Models) >= MaxModels {
			name = shared
			return nil
		}
		st.Models = append(st.Models, state.CountedModel{Model: model, Day: day})
		return nil
	})
	if err != nil {
		return "", err
	}
	if name == shared {
		b.warnModels()
	}
	return name, nil
}

// counted is countedAs, registering the model if it must be.
func (b *Book[C]) counted(ctx context.Context, st *state.State, model string, day time.Time) (string, error) {
	name, reg := b.countedAs(st, model, day)
	if !reg {
		return name, nil
	}
	return b.register(ctx, model, day)
}
